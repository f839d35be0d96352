"""Training on CPU with the tiny random model: adapters, QLoRA, EOS learning, resume, W&B runs, config composition."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.data.paths import REPO_ROOT

CONF = REPO_ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_config_composes(experiment: str, compose_config) -> None:
    cfg = compose_config(f"+experiment={experiment}")
    OmegaConf.resolve(cfg)  # every interpolation resolves
    assert cfg.experiment_name == experiment
    assert set(cfg) >= {"model", "peft", "prompt", "data", "augment", "trainer", "eval", "logger", "seed"}


def test_the_english_cpu_recipe_is_the_cpu_recipe_on_ecf(compose_config) -> None:
    chinese, english = compose_config("+experiment=cpu"), compose_config("+experiment=cpu_en")
    assert (english.data.name, english.prompt.language, chinese.prompt.language) == ("ecf", "en", "zh")
    # ECF's emotion span is the whole utterance, and the instruction says so; Gui's is the emotion words.
    assert (english.prompt.emotion_span, chinese.prompt.emotion_span) == ("utterance", "words")
    for group in ("peft", "augment"):
        assert english[group] == chinese[group], group
    # Same model; English keeps the float32 weights and one row at a time its numbers were measured with.
    assert {key for key in chinese.model if english.model[key] != chinese.model[key]} == {"dtype"}
    assert (english.model.dtype, chinese.model.dtype) == ("float32", "bfloat16")
    assert english.shared_prefix.rows_per_chunk == 1 and chinese.shared_prefix.rows_per_chunk is None
    # The trainer differs only in its step budget (ECF steps cost ~5x Gui's).
    budget = {"max_steps", "eval_steps", "save_steps"}
    differing = {key for key in chinese.trainer if english.trainer.get(key) != chinese.trainer[key]}
    assert differing == budget and english.trainer.max_steps < chinese.trainer.max_steps
    assert english.trainer.max_steps % english.trainer.save_steps == 0  # the last step is saved and tested
    # A dev-loss pass costs ~11 min: no dev evaluation, the last step is tested.
    assert english.eval.max_dev_documents == 0
    # ECF's longest test answer is 1,018 tokens (ecct.training.lengths): generation must not cut it.
    assert english.eval.max_new_tokens > 1018 and english.eval.constrained
    assert english.eval.cause_clauses is None and chinese.eval.cause_clauses is not None
    # The empty answer is refused on ECF only (at 30 steps it wins on every test conversation).
    assert english.eval.allow_empty is False and chinese.eval.allow_empty is True


@pytest.mark.parametrize("model", sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
def test_every_model_config_composes_with_lora_and_qlora(model: str, compose_config) -> None:
    for peft in ("lora", "qlora"):
        cfg = compose_config("+experiment=smoke", f"model={model}", f"peft={peft}")
        OmegaConf.resolve(cfg)
        assert cfg.peft.target_modules == cfg.model.lora_target_modules


def test_experiment_is_not_in_the_defaults_list(compose_config) -> None:
    cfg = compose_config()
    assert cfg.experiment_name == "default"


def test_smoke_run_writes_every_artifact(tmp_path: Path, run_module) -> None:
    result = run_module("ecct.train", "+experiment=smoke", f"hydra.run.dir={tmp_path / 'run'}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "versions.json",
        "metrics.json",
        "predictions.jsonl",
        "train_log.jsonl",
        "dev_metrics.jsonl",
        "adapter/adapter_config.json",
    ):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train/steps"] == 2
    assert 0.0 <= metrics["test/span/triplet/f1"] <= 1.0
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == metrics["data/n_test"] == 2
    assert {"id", "text", "output", "triplets", "violations", "gold"} <= set(records[0])
    resolved = OmegaConf.load(run / "config.yaml")
    assert resolved.model.source == "tiny" and resolved.trainer.max_steps == 2
    # the run ends by showing test documents' predicted vs gold triplets (Hydra logs to stdout)
    shown = (result.stdout + result.stderr).split("predicted vs gold", 1)
    assert len(shown) == 2 and f"[{records[0]['id']}]" in shown[1]


def test_resume_continues_from_last_checkpoint_with_same_wandb_run(tmp_path: Path, run_module) -> None:
    run = tmp_path / "run"
    overrides = [
        "logger=wandb",
        "trainer.max_steps=40",
        "trainer.save_steps=2",
        "trainer.eval_steps=2",
        "eval.max_dev_documents=1",
        "eval.max_new_tokens=8",
        f"hydra.run.dir={run}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    process = subprocess.Popen(
        [sys.executable, "-m", "ecct.train", "+experiment=smoke", *overrides],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not list((run / "checkpoints").glob("checkpoint-*")) and time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before writing a checkpoint"
        time.sleep(0.2)
    time.sleep(0.5)  # let the checkpoint finish writing before the interruption
    process.send_signal(signal.SIGKILL)
    process.wait()
    interrupted_at = max(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("checkpoint-*"))
    assert interrupted_at < 40, "the run finished before it could be interrupted"
    run_id = (run / "wandb_run_id.txt").read_text()

    result = run_module("ecct.train", "+experiment=smoke", f"hydra.run.dir={run}", *overrides[:-1], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {run / 'checkpoints'}" in result.stdout + result.stderr  # Hydra logs to stdout
    assert (run / "wandb_run_id.txt").read_text() == run_id
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train/steps"] == 40
    logged_steps = [e["step"] for e in map(json.loads, (run / "train_log.jsonl").read_text().splitlines())]
    assert max(logged_steps) == 40


def test_ddp_with_two_cpu_processes_writes_one_run(tmp_path: Path) -> None:
    """Two gloo processes (torchrun; accelerate launch uses the same launcher on GPUs): rank 0 alone writes."""
    run = tmp_path / "ddp"
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29531",
        "-m",
        "ecct.train",
        "+experiment=smoke",
        f"hydra.run.dir={run}",
    ]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train/world_size"] == 2
    assert metrics["train/steps"] == 2
    assert len((run / "predictions.jsonl").read_text().splitlines()) == metrics["data/n_test"]


# ---- checkpoint selection and the documented eval switches (in-process, tiny model, 2-4 steps) -----------------


def train_in_process(compose_config, run_dir: Path, *overrides: str) -> dict:
    """``ecct.train +experiment=smoke overrides...`` without the subprocess: config checks, then the run body."""
    from ecct.runs.checks import check_config
    from ecct.training.run import run

    cfg = compose_config("+experiment=smoke", "eval.max_new_tokens=8", *overrides)
    check_config(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)  # as run_job does: ecct.predict reads it
    return run(cfg, run_dir, None)


def eval_losses(run: Path) -> dict[int, float]:
    entries = map(json.loads, (run / "train_log.jsonl").read_text().splitlines())
    return {e["step"]: e["eval_loss"] for e in entries if "eval_loss" in e}


def test_issue_command_without_dev_generation_finishes(tmp_path: Path, run_module) -> None:
    """Issue 20's command on the tiny model: no dev generation, eval/save steps past the last step."""
    run = tmp_path / "run"
    result = run_module(
        "ecct.train",
        "+experiment=smoke",
        "trainer.max_steps=3",
        "trainer.eval_steps=1000",
        "trainer.save_steps=1000",
        "eval.generate_during_training=false",
        "eval.max_test_documents=1",
        "logger=none",
        f"hydra.run.dir={run}",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "checkpoint selection: dev_loss" in result.stdout + result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["dev/selection"] == "dev_loss"
    assert metrics["dev/tested_step"] == metrics["dev/best_step"] == metrics["train/steps"] == 3
    assert metrics["dev/loss"] == eval_losses(run)[3]  # the last step is evaluated even past eval_steps
    assert (run / "adapter" / "adapter_config.json").exists()
    assert not (run / "dev_metrics.jsonl").exists()  # no dev generation ran
    assert len((run / "predictions.jsonl").read_text().splitlines()) == 1


def test_dev_loss_selection_tests_the_lowest_dev_loss(tmp_path: Path, compose_config) -> None:
    run = tmp_path / "run"
    overrides = ("trainer.max_steps=4", "trainer.eval_steps=2", "trainer.save_steps=2")
    metrics = train_in_process(compose_config, run, "eval.generate_during_training=false", *overrides)
    losses = eval_losses(run)
    assert sorted(losses) == [2, 4]
    best = min(losses, key=losses.get)
    assert metrics["dev/selection"] == "dev_loss"
    assert metrics["dev/best_step"] == metrics["dev/tested_step"] == best
    assert metrics["dev/loss"] == losses[best]
    assert not (run / "dev_metrics.jsonl").exists()


def test_dev_f1_selection_tests_the_best_generation_score(tmp_path: Path, compose_config) -> None:
    from ecct.training.trainer import selection_score

    run = tmp_path / "run"
    metrics = train_in_process(compose_config, run, "trainer.max_steps=4", "trainer.eval_steps=2")
    dev = [json.loads(line) for line in (run / "dev_metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in dev] == [2, 4]
    best = max(dev, key=selection_score)["step"]  # the first of equal scores, as transformers keeps it
    assert metrics["dev/selection"] == "dev_triplet_f1"
    assert metrics["dev/best_step"] == metrics["dev/tested_step"] == best
    assert metrics["dev/span/triplet/f1"] == next(e for e in dev if e["step"] == best)["span/triplet/f1"]


def test_eval_steps_past_the_last_step_still_evaluate_it(tmp_path: Path, compose_config) -> None:
    run = tmp_path / "run"
    metrics = train_in_process(compose_config, run, "trainer.eval_steps=1000", "trainer.save_steps=1000")
    assert [json.loads(line)["step"] for line in (run / "dev_metrics.jsonl").read_text().splitlines()] == [2]
    assert metrics["dev/selection"] == "dev_triplet_f1"
    assert metrics["dev/best_step"] == metrics["dev/tested_step"] == 2


def test_no_dev_documents_tests_the_last_step(tmp_path: Path, compose_config) -> None:
    run = tmp_path / "run"
    metrics = train_in_process(compose_config, run, "eval.max_dev_documents=0", "trainer.save_steps=3")
    assert metrics["dev/selection"] == "last"
    assert metrics["dev/best_step"] is None and metrics["dev/tested_step"] == metrics["train/steps"] == 2
    assert metrics["data/n_dev"] == 0 and metrics["memory/estimated_peak_mb"] > 0
    assert eval_losses(run) == {} and not (run / "dev_metrics.jsonl").exists()
    assert (run / "adapter" / "adapter_config.json").exists()


def test_every_eval_switch_runs(tmp_path: Path, compose_config, caplog: pytest.LogCaptureFixture) -> None:
    """conf/eval/default.yaml, each key off its default (dev_fraction: a split without a validation part)."""
    caplog.set_level("INFO")
    metrics = train_in_process(
        compose_config,
        tmp_path / "run",
        "eval.batch_size=1",
        "eval.max_new_tokens=12",
        "eval.max_dev_documents=1",
        "eval.max_test_documents=1",
        "eval.constrained=true",
        "eval.cause_clauses=[-1,0]",
        "eval.prefix_cache=false",
        "eval.dev_fraction=0.2",
        "data.split.ratios=[0.9,0.0,0.1]",
    )
    assert "holding out 5 train documents as dev" in caplog.text  # 0.2 of the 27 non-test documents
    assert metrics["data/n_test"] == 1 and metrics["data/n_dev"] == 1
    assert metrics["dev/selection"] == "dev_triplet_f1" and metrics["dev/tested_step"] == 2


def test_selection_reports_the_checkpoint_it_restored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """save_steps larger than eval_steps: the best evaluation may not be saved; the tested step says so."""
    from types import SimpleNamespace

    from ecct.training.selection import DEV_LOSS, LAST, choose_selection, selection_summary

    state = SimpleNamespace(
        global_step=8,
        best_global_step=6,
        best_model_checkpoint=str(tmp_path / "checkpoints" / "checkpoint-4"),
        log_history=[{"step": 4, "eval_loss": 1.5}, {"step": 6, "eval_loss": 1.2}, {"step": 8, "eval_loss": 1.4}],
    )
    summary = selection_summary(choose_selection(False, 3), state, tmp_path / "absent.jsonl")
    assert summary == {"dev/selection": DEV_LOSS, "dev/best_step": 6, "dev/tested_step": 4, "dev/loss": 1.5}
    assert "best dev evaluation (step 6) was not saved" in caplog.text
    last = selection_summary(choose_selection(True, 0), state, tmp_path / "absent.jsonl")
    assert last["dev/selection"] == LAST and last["dev/tested_step"] == 8 and last["dev/best_step"] is None


# ---- a run that fails after training started keeps its weights --------------------------------------------------


def lora_b_norm(adapter_dir: Path) -> float:
    """Load the adapter back onto the tiny base model with PEFT; LoRA B starts at zero, so > 0 means trained."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ecct.models import build_tiny_model

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(build_tiny_model()), str(adapter_dir))
    return sum(float(p.abs().sum()) for n, p in model.named_parameters() if "lora_B" in n)


def test_failing_evaluation_saves_the_last_adapter(
    tmp_path: Path, compose_config, run_module, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ecct.training.trainer import GenerativeEvalSFTTrainer

    def broken(self, *args, **kwargs):
        raise RuntimeError(f"dev evaluation broke at step {self.state.global_step}")

    monkeypatch.setattr(GenerativeEvalSFTTrainer, "evaluate", broken)
    run = tmp_path / "run"
    with pytest.raises(RuntimeError, match="dev evaluation broke at step 2"):
        train_in_process(compose_config, run, "trainer.max_steps=4", "trainer.eval_steps=2")
    saved = run / "adapter-last"
    assert (saved / "adapter_config.json").exists() and (saved / "tokenizer_config.json").exists()
    assert lora_b_norm(saved) > 0
    assert not (run / "adapter").exists() and not (run / "metrics.json").exists()
    assert "run failed after 2 optimizer steps (RuntimeError: dev evaluation broke at step 2)" in caplog.text
    assert "resume:    python -m ecct.train" in caplog.text and f"hydra.run.dir={run}" in caplog.text
    assert "no checkpoint was saved yet" in caplog.text  # the evaluation comes before step 2's checkpoint
    retest = next(line for line in caplog.text.splitlines() if "test it:" in line).split("test it:", 1)[1].split()
    assert retest[:4] == ["python", "-m", "ecct.predict", f"adapter={saved}"]
    result = run_module(retest[2], *retest[3:], "progress=false", timeout=600)  # the logged command works
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run / "test_predictions.jsonl").exists()


def test_failing_test_decoding_points_at_the_saved_adapter(
    tmp_path: Path, compose_config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import ecct.training.run as training_run

    def broken(*args, **kwargs):
        raise OSError("test decoding broke")

    monkeypatch.setattr(training_run, "predict_documents", broken)
    run = tmp_path / "run"
    with pytest.raises(OSError, match="test decoding broke"):
        train_in_process(compose_config, run)
    assert lora_b_norm(run / "adapter") > 0 and (run / "adapter" / "tokenizer_config.json").exists()
    assert not (run / "adapter-last").exists()
    assert f"saved: the tested checkpoint, in {run / 'adapter'}" in caplog.text
    assert f"continues from {run / 'checkpoints' / 'checkpoint-2'}" in caplog.text
    assert len((run / "test_documents.jsonl").read_text().splitlines()) == 2


def test_dev_scores_skip_a_line_cut_by_a_kill(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from ecct.training.selection import dev_scores

    scores = {"span/triplet/f1": 0.25, "word/triplet/f1": 0.5, "span/emotion/f1": 0.75, "span/cause/f1": 0.5}
    log_file = tmp_path / "dev_metrics.jsonl"
    cut = json.dumps({"step": 2, **scores})[:20]  # the kill; the resumed run appends after the cut line
    log_file.write_text(cut + json.dumps({"step": 4, **scores}) + "\n" + json.dumps({"step": 6, **scores}) + "\n")
    assert dev_scores(log_file, 6) == {f"dev/{key}": value for key, value in scores.items()}
    assert "1 line(s) that are not JSON" in caplog.text
