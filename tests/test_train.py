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
