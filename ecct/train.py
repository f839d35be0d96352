"""``python -m ecct.train +experiment=NAME [overrides]``: one Hydra job = one W&B run = one run directory.

The run directory (Hydra's output dir) gets the resolved config, library versions and everything
``ecct.experiment.run`` writes. Running the same command with the same ``hydra.run.dir`` resumes from the last
checkpoint and continues the same W&B run.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ecct import resolvers
from ecct.config_checks import check_config
from ecct.tracking import finish, init_run, run_name, run_tags

log = logging.getLogger(__name__)

resolvers.register()  # before Hydra composes: conf/config.yaml's sweep subdir uses ${ecct_subdir:...}

TRACKED_PACKAGES = ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate", "wandb")


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


def run_job(
    cfg: DictConfig,
    name: str,
    tags: list[str],
    body: Callable[[DictConfig, Path, Any | None], dict[str, Any]],
) -> dict[str, Any]:
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


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from ecct.experiment import run  # heavy imports after Hydra has parsed the command line

    check_config(cfg)
    choices = dict(HydraConfig.get().runtime.choices)
    name = cfg.get("run_name") or run_name(cfg, choices)
    metrics = run_job(cfg, name, run_tags(cfg, choices), run)
    return float(metrics["test/span/triplet/f1"])


if __name__ == "__main__":
    main()
