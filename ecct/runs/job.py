"""One Hydra job = one W&B run = one run directory: config, library versions, the W&B run, and the results.

``run_job`` first asks ``ecct.runs.resume.plan`` what the run folder calls for: a finished run of the same config
is skipped (its files untouched), a run of another config is refused, otherwise it writes the resolved config and
versions (rank 0), starts (or continues) the W&B run, runs the body (which resumes from the last checkpoint) and
always finishes W&B; each start and end is logged in ``attempts.jsonl``. Bodies end with ``publish_results``:
``predictions.jsonl``, ``metrics.json``, the W&B summary and the predictions table, written the same way by every
kind of run (LLM or baseline).
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
from ecct.runs import resume
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
    """One Hydra job as one W&B run: skip, refuse or (re)start it (``ecct.runs.resume``), always finish W&B."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    choices = dict(hydra_cfg.runtime.choices)
    main = is_main_process()
    chosen = resume.plan(cfg, run_dir)  # every rank: the same files give the same answer
    entry = resume.start_entry(chosen, run_dir)
    if chosen.action == resume.REFUSE:
        if main:
            resume.record(run_dir, entry)
        raise resume.RunFolderConflict(resume.conflict_message(run_dir, chosen.differences))
    if chosen.action == resume.SKIP:
        if main:
            resume.record(run_dir, entry)
        log.info("%s: finished with this config (metrics.json), skipped; resume=false reruns it", run_dir)
        return json.loads((run_dir / resume.METRICS_FILE).read_text(encoding="utf-8"))
    if chosen.action == resume.RESUME:
        log.info("%s: resuming from %s (step %s)", run_dir, chosen.checkpoint, chosen.step)
    versions = library_versions()
    wandb_run = None
    if main:  # multi-GPU: every rank trains, only rank 0 writes and logs
        _replace_atomically(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        (run_dir / "versions.json").write_text(json.dumps(versions, indent=2))
        wandb_run = init_run(cfg, run_dir, name, tags, group_name(cfg))
        resume.record(run_dir, entry | ({"wandb_run_id": wandb_run.id} if wandb_run is not None else {}))
    if wandb_run is not None:
        wandb_run.config.update({"versions": versions, "hydra_choices": choices}, allow_val_change=True)
    exit_code = 1
    error: BaseException | None = None
    try:
        metrics = body(cfg, run_dir, wandb_run)
        exit_code = 0
    except BaseException as err:  # Ctrl-C and SLURM's SIGTERM too: the attempt's end is logged, then re-raised
        error = err
        raise
    finally:
        finish(wandb_run, exit_code)
        if main:
            status = {"status": "finished"} if error is None else {"status": "failed", "error": repr(error)[:300]}
            resume.record(run_dir, {"event": "end", **status})
    return metrics


def _replace_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a kill leaves the old file or the new one, never a cut one."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


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
    # Last and whole (a temporary file renamed): a metrics.json on disk is what marks the run finished.
    _replace_atomically(run_dir / "metrics.json", json.dumps(metrics, indent=2, ensure_ascii=False))
    if wandb_run is not None:
        wandb_run.summary.update(metrics)
        log_predictions_table(wandb_run, list(records))
