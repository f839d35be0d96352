"""One training batch of the CPU recipe, forward + backward, under each CPU-speed setting of the fast path.

The knobs (each a config key of ``ecct.train``):

- ``compact_lm_head``: TRL's fused LM head scores every position on CPU (``false``) or only the labelled ones
  (``true``, ecct's default; ``ecct.training.compact_head``). Exact.
- ``model.dtype``: frozen base weights in float32 or bfloat16 (LoRA adapters stay float32). bfloat16 matrix products
  run on the CPU's AMX/AVX-512-BF16 units where it has them; not exact (bfloat16 activations).
- ``shared_prefix.rows_per_chunk``: the batch's suffixes one row at a time (1) or all at once (null). Exact;
  larger matrix products, more activation memory.

Same model, batches and LoRA initialisation in every arm, one process, ``OMP_NUM_THREADS=1``. Each arm runs
``--batches`` length-grouped training batches of Gui split20 #1 (``+experiment=cpu``'s data, prompt and batch size;
after the ``--skip`` first, which the sampler makes the longest) ``--repeats`` times after one untimed pass. The
time is CPU seconds of this process (on a shared machine wall time measures the scheduler); the loss is the first
pass's (the float32 arms must agree to 1e-5).

    python bench/bench_step.py                      # prints a table, last line: speedup <fastest vs TRL default>
    python bench/bench_step.py --json bench/results_step_gemma.json
    python bench/bench_step.py --batches 1 --arms 0,1,3,5   # four arms, ~5 min
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# (label, model.dtype, compact_lm_head, rows_per_chunk): TRL's default on CPU first, the fastest last.
ARMS = (
    ("float32, every position, rows of 1", "float32", False, 1),
    ("float32, labelled only, rows of 1", "float32", True, 1),
    ("float32, labelled only, whole batch", "float32", True, None),
    ("bfloat16, labelled only, rows of 1", "bfloat16", True, 1),
    ("bfloat16, labelled only, rows of 2", "bfloat16", True, 2),
    ("bfloat16, labelled only, whole batch", "bfloat16", True, None),
)


def compose_config(args: argparse.Namespace, dtype: str) -> Any:
    from hydra import compose, initialize_config_dir

    overrides = ["+experiment=cpu", f"model={args.model}", f"model.dtype={dtype}", "peft.dropout=0.0"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=overrides)


def build_trainer(args: argparse.Namespace, dtype: str, out: Path) -> Any:
    import torch
    from trl import SFTConfig

    from ecct.data.corpus import load_corpus
    from ecct.decoding.generate import GenerationSettings
    from ecct.models import load_model, load_tokenizer, resolve_model_path
    from ecct.prompts import PromptConfig
    from ecct.training.datasets import build_sft_dataset
    from ecct.training.run import lora_config
    from ecct.training.trainer import GenerativeEvalSFTTrainer

    cfg = compose_config(args, dtype)
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    prompt = PromptConfig.from_config(cfg.prompt)
    path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(cfg.model, path)
    dataset, _ = build_sft_dataset(corpus.part("train"), prompt, tokenizer, cfg.trainer.max_length)
    torch.manual_seed(args.seed)
    config = SFTConfig(
        output_dir=str(out),
        per_device_train_batch_size=int(cfg.trainer.per_device_train_batch_size),
        max_length=cfg.trainer.max_length,
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=args.seed,
        data_seed=args.seed,
        train_sampling_strategy="group_by_length",
    )
    return GenerativeEvalSFTTrainer(
        model=load_model(cfg.model, cfg.peft, path),
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(cfg),
        dev_documents=[],
        prompt_config=prompt,
        generation=GenerationSettings(),
    )


def measure(trainer: Any, batches: list[dict], compact: bool, rows_per_chunk: int | None, repeats: int) -> dict:
    from ecct.training.compact_head import set_compact_lm_head

    set_compact_lm_head(compact)
    trainer.rows_per_chunk = rows_per_chunk
    model = trainer.model
    model.train()
    losses: list[float] = []
    cpu = 0.0
    for attempt in range(repeats + 1):  # the first pass is untimed
        for batch in batches:
            model.zero_grad()
            started = time.process_time()
            loss = trainer.compute_loss(model, dict(batch))
            loss.backward()
            if attempt:
                cpu += time.process_time() - started
            else:
                losses.append(float(loss.detach()))
    tokens = sum(int(batch["attention_mask"].sum()) for batch in batches)
    return {"losses": losses, "cpu_seconds_per_batch": cpu / (repeats * len(batches)), "useful_tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="gemma3_270m")
    parser.add_argument("--batches", type=int, default=2, help="length-grouped training batches per arm")
    parser.add_argument("--skip", type=int, default=1, help="batches skipped (the longest come first)")
    parser.add_argument("--repeats", type=int, default=1, help="timed passes over them")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--arms", help="arm numbers, e.g. 0,1,3,5 (0: TRL default, 5: fastest)")
    args = parser.parse_args()
    chosen = [ARMS[int(i)] for i in args.arms.split(",")] if args.arms else list(ARMS)

    import tempfile

    import torch

    torch.set_num_threads(1)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as out:
        for dtype in dict.fromkeys(arm[1] for arm in chosen):  # each dtype's model once, in the arms' order
            trainer = build_trainer(args, dtype, Path(out))
            loader = iter(trainer.get_train_dataloader())
            for _ in range(args.skip):
                next(loader)
            batches = [trainer._prepare_inputs(next(loader)) for _ in range(args.batches)]
            for label, arm_dtype, compact, rows in chosen:
                if arm_dtype == dtype:
                    results.append({"arm": label, **measure(trainer, batches, compact, rows, args.repeats)})
    base = results[0]["cpu_seconds_per_batch"]
    print(f"{args.model}, +experiment=cpu batches of 8, {args.batches} batches x {args.repeats} timed passes")
    print("| arm | CPU s per batch | useful tokens per CPU s | speed-up | first-batch loss |")
    print("|---|---|---|---|---|")
    for row in results:
        seconds = row["cpu_seconds_per_batch"]
        rate = row["useful_tokens"] / len(row["losses"]) / seconds
        print(f"| {row['arm']} | {seconds:.1f} | {rate:.0f} | {base / seconds:.2f}x | {row['losses'][0]:.6f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.1f} GB")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "results": results, "peak_rss_gb": peak}, indent=2))
    print(f"speedup {base / results[-1]['cpu_seconds_per_batch']:.2f}")


if __name__ == "__main__":
    main()
