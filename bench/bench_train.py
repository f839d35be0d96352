"""Training throughput: TRL's SFTTrainer as ecct used it before shared-prefix training, against the fast path.

Three arms, each in its own process (so each has its own peak RSS), same model, data, seed and batch:

- ``trl``: SFTTrainer with a random sampler, every row computed in full (ecct before the fast path);
- ``fast``: ecct's default: length-grouped batches + the shared instruction prefix computed once per batch;
- ``grouped``: the same batches as ``fast`` through the plain path: the reference its losses are compared with
  (and the split of the speed-up into batching and prefix sharing).

Printed per arm: useful (non-pad) tokens per second of wall-clock and per CPU second of the arm's process,
computed/useful tokens, peak RSS, seconds per step; then the speed-up of ``fast`` over ``trl`` and the largest
relative per-step loss difference between ``fast`` and ``grouped``. The speed-up on the last line is in useful
tokens per CPU second: on a shared machine wall-clock time measures the scheduler (a two-thread torch process waits
for its own descheduled thread), so the arms run with one thread (``--threads 1``, the default), where CPU time is
the work done (and equals wall-clock time on a quiet machine). The plain arms run each step's rows as micro-batches
of ``--plain-micro-batch`` (2) with gradient accumulation: 8 full rows of the Chinese instruction need more than
24 GB. Dropout is off in every arm so the losses can be compared exactly. The first ``--warmup`` steps are not
timed. The last line is ``speedup <x> loss_max_rel_diff <y>``.

    python bench/bench_train.py                                  # default: smollm2_135m, full zh, batch 8, LoRA
    python bench/bench_train.py --batch 4 --language en --peft none --arms fast,trl
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARMS = ("fast", "trl", "grouped")


def compose_config(args: argparse.Namespace) -> Any:
    from hydra import compose, initialize_config_dir

    overrides = [
        "+experiment=no_aug",
        f"model={args.model}",
        f"peft={args.peft}",
        f"prompt={args.prompt}",
        f"prompt.language={args.language}",
        f"seed={args.seed}",
    ]
    if args.peft != "none":
        overrides.append("peft.dropout=0.0")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides)


def run_arm(args: argparse.Namespace) -> dict[str, Any]:
    """Train ``args.steps`` optimizer steps in this process; per-step losses, times and token counts."""
    from transformers import TrainerCallback, set_seed
    from trl import SFTConfig, SFTTrainer

    from ecct.data.corpus import load_corpus
    from ecct.models import load_model, load_tokenizer, resolve_model_path
    from ecct.prompts import PromptConfig
    from ecct.training.datasets import build_sft_dataset
    from ecct.training.run import lora_config
    from ecct.training.shared_prefix import SharedPrefixMixin

    cfg = compose_config(args)
    set_seed(args.seed)
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    documents = corpus.part("train")[: args.documents]
    prompt_cfg = PromptConfig.from_config(cfg.prompt)
    path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(cfg.model, path)
    dataset, _ = build_sft_dataset(documents, prompt_cfg, tokenizer, cfg.trainer.max_length)
    model = load_model(cfg.model, cfg.peft, path)

    class Recording:
        """Keeps each micro-batch's exact loss (the logged one is rounded); outermost, so a chunked batch is one."""

        exact_losses: list[float]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)  # type: ignore[misc]
            if model.training:
                self.__dict__.setdefault("exact_losses", []).append(float(loss.detach()))
            return loss

    class PlainTrainer(Recording, SFTTrainer):
        pass

    class FastTrainer(Recording, SharedPrefixMixin, SFTTrainer):
        rows_per_chunk = args.rows_per_chunk

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.steps: list[dict[str, float]] = []

        def on_step_begin(self, _args, state, control, **kwargs) -> None:
            self.started, self.cpu, self.tokens = time.perf_counter(), time.process_time(), state.num_input_tokens_seen

        def on_step_end(self, _args, state, control, **kwargs) -> None:
            seconds, cpu = time.perf_counter() - self.started, time.process_time() - self.cpu
            self.steps.append({"seconds": seconds, "cpu": cpu, "tokens": state.num_input_tokens_seen - self.tokens})

    timer = Timer()
    # The plain path at 8 rows of the full Chinese instruction needs more than this machine's 24 GB: it runs the
    # same 8 rows per optimizer step as micro-batches of --plain-micro-batch (what ecct's CPU preset used).
    micro = args.batch if args.arm == "fast" else min(args.batch, args.plain_micro_batch)
    if args.batch % micro:
        sys.exit(f"--batch {args.batch} is not a multiple of --plain-micro-batch {micro}")
    accumulation = args.batch // micro
    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(
            output_dir=out,
            max_steps=args.steps + args.warmup,
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=accumulation,
            learning_rate=float(cfg.trainer.learning_rate),
            lr_scheduler_type="constant",
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            max_length=cfg.trainer.max_length,
            bf16=False,
            use_cpu=True,
            gradient_checkpointing=False,
            disable_tqdm=True,
            seed=args.seed,
            data_seed=args.seed,
            include_num_input_tokens_seen="non_padding",
            train_sampling_strategy="random" if args.arm == "trl" else "group_by_length",
        )
        trainer_class = FastTrainer if args.arm == "fast" else PlainTrainer
        trainer = trainer_class(
            model=model,
            args=config,
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=lora_config(cfg),
            callbacks=[timer],
        )
        trainer.train()
    micro_losses = trainer.exact_losses
    losses = [sum(micro_losses[i : i + accumulation]) for i in range(0, len(micro_losses), accumulation)]
    timed = timer.steps[args.warmup :]
    seconds = sum(step["seconds"] for step in timed)
    cpu = sum(step["cpu"] for step in timed)
    useful = sum(step["tokens"] for step in timed)
    stats = trainer.prefix_stats.as_dict() if args.arm == "fast" else {}
    return {
        "arm": args.arm,
        "losses": losses,
        "seconds_per_step": seconds / max(len(timed), 1),
        "useful_tokens_per_second": useful / max(seconds, 1e-9),
        "useful_tokens_per_cpu_second": useful / max(cpu, 1e-9),
        "micro_batch": micro,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        **stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--prompt", default="full")
    parser.add_argument("--language", default="zh", choices=("zh", "en"))
    parser.add_argument("--peft", default="lora", choices=("lora", "qlora", "none"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2, help="timed optimizer steps per arm")
    parser.add_argument("--warmup", type=int, default=1, help="untimed first steps per arm")
    parser.add_argument("--documents", type=int, default=400, help="Gui split20 #1 training documents to draw from")
    parser.add_argument("--rows-per-chunk", type=int, default=1, help="the fast arm's shared_prefix.rows_per_chunk")
    parser.add_argument("--plain-micro-batch", type=int, default=2, help="micro-batch of the plain arms")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of each arm (see the docstring)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)  # one arm, in a child process
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args)))
        return

    results: dict[str, dict[str, Any]] = {}
    for arm in args.arms.split(","):
        command = [sys.executable, __file__, *sys.argv[1:], "--arm", arm]
        env = os.environ | {"TQDM_DISABLE": "1", "OMP_NUM_THREADS": str(args.threads)}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode:
            sys.exit(f"arm {arm} failed:\n{done.stderr[-4000:]}")
        results[arm] = json.loads(done.stdout.strip().splitlines()[-1])
        row = results[arm]
        print(
            f"{arm:8s} {row['useful_tokens_per_second']:8.1f} useful tok/s "
            f"({row['useful_tokens_per_cpu_second']:.1f} per CPU s)"
            f"  {row['seconds_per_step']:7.1f} s/step  micro-batch {row['micro_batch']}  "
            f"peak RSS {row['peak_rss_gb']:.2f} GB  losses {[round(x, 4) for x in row['losses']]}",
            flush=True,
        )
    case = f"{args.model} {args.prompt}/{args.language} batch {args.batch} peft={args.peft}"
    summary: dict[str, Any] = {"case": case, "arms": results}
    if "fast" in results:
        fast = results["fast"]
        print(
            f"fast path computed {fast['shared_prefix/computed_per_useful_token']:.3f} tokens per useful token "
            f"(plain batches of the same rows: {fast['shared_prefix/plain_per_useful_token']:.3f})"
        )
    if "trl" in results and "fast" in results:
        summary["speedup_wall"] = (
            results["fast"]["useful_tokens_per_second"] / results["trl"]["useful_tokens_per_second"]
        )
        print(f"speed-up in useful tokens per wall-clock second: {summary['speedup_wall']:.2f}")
        summary["speedup_cpu"] = (
            results["fast"]["useful_tokens_per_cpu_second"] / results["trl"]["useful_tokens_per_cpu_second"]
        )
        print(f"speed-up in useful tokens per CPU second: {summary['speedup_cpu']:.2f}")
    if "grouped" in results and "fast" in results:
        pairs = zip(results["fast"]["losses"], results["grouped"]["losses"], strict=True)
        summary["loss_max_rel_diff"] = max(abs(a - b) / max(abs(b), 1e-12) for a, b in pairs)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    print(case)
    speedup, diff = summary.get("speedup_cpu", float("nan")), summary.get("loss_max_rel_diff", float("nan"))
    print(f"speedup {speedup:.2f} loss_max_rel_diff {diff:.2e}")


if __name__ == "__main__":
    main()
