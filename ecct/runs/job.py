"""One Hydra job = one W&B run = one run directory: config, library versions, the W&B run, and the results.

``run_job`` writes the resolved config and versions (rank 0), starts the W&B run, runs the body and always
finishes W&B. Bodies end with ``publish_results``: ``predictions.jsonl``, ``metrics.json``, the W&B summary and
the predictions table, written the same way by every kind of run (LLM or baseline).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ecct.jsonl import write_jsonl
from ecct.runs.tracking import finish, init_run, log_predictions_table

log = logging.getLogger(__name__)

TRACKED_PACKAGES = ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate", "wandb")

Body = Callable[[DictConfig, Path, Any | None], dict[str, Any]]


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def is_main_process() -> bool:
    """Rank 0 under ``accelerate launch``/torchrun (``RANK`` is set), or a plain single process."""
    return int(os.environ.get("RANK", "0")) == 0


def group_name(cfg: DictConfig) -> str | None:
    """W&B group: the configured one, else the sweep's name in multirun, else the experiment's name."""
    if cfg.logger.get("group"):
        return str(cfg.logger.group)
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode.name == "MULTIRUN" and cfg.get("sweep_name"):
        return str(cfg.sweep_name)
    return cfg.get("experiment_name")


def run_job(cfg: DictConfig, name: str, tags: list[str], body: Body) -> dict[str, Any]:
    """One Hydra job as one W&B run: write config + versions (rank 0), run ``body``, always finish W&B."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    choices = dict(hydra_cfg.runtime.choices)
    versions = library_versions()
    wandb_run = None
    if is_main_process():  # multi-GPU: every rank trains, only rank 0 writes and logs
        OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
        (run_dir / "versions.json").write_text(json.dumps(versions, indent=2))
        wandb_run = init_run(cfg, run_dir, name, tags, group_name(cfg))
    if wandb_run is not None:
        wandb_run.config.update({"versions": versions, "hydra_choices": choices}, allow_val_change=True)
    exit_code = 1
    try:
        metrics = body(cfg, run_dir, wandb_run)
        exit_code = 0
    finally:
        finish(wandb_run, exit_code)
    return metrics


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def publish_results(
    run_dir: Path,
    metrics: dict[str, Any],
    records: Sequence[dict[str, Any]],
    wandb_run: Any | None,
    train_log: Sequence[dict[str, Any]] = (),
) -> None:
    """A finished run's files (``predictions.jsonl``, ``train_log.jsonl``, ``metrics.json``) and W&B summary."""
    write_jsonl(records, run_dir / "predictions.jsonl")
    write_jsonl(train_log, run_dir / "train_log.jsonl")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    if wandb_run is not None:
        wandb_run.summary.update(metrics)
        log_predictions_table(wandb_run, list(records))
