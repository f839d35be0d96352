"""W&B set-up: one run per Hydra job, named from the config choices, resumable, offline by default.

``wandb.init`` is called before the trainer is built so that transformers' W&B callback reuses this run
(otherwise Hydra multirun jobs collapse into one W&B run); the caller must call ``finish`` in ``finally``.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

RUN_ID_FILE = "wandb_run_id.txt"
# The factors that tell runs of a sweep apart; each becomes part of the name and a tag.
NAME_FACTORS = ("model", "peft", "prompt", "augment")


def run_name(cfg: DictConfig, choices: Mapping[str, str]) -> str:
    """E.g. ``smollm2_135m-lora-full-none-zh-s42-split20.1``: the Hydra choices plus seed and fold."""
    parts = [str(choices.get(factor, "?")) for factor in NAME_FACTORS]
    parts.append(str(cfg.prompt.get("language", "")))
    parts.append(f"s{cfg.seed}")
    split = cfg.data.split
    parts.append(f"{split.scheme}.{split.get('index', '')}" if split.scheme in ("split20", "ecpe10") else split.scheme)
    return "-".join(p for p in parts if p)


def run_tags(cfg: DictConfig, choices: Mapping[str, str]) -> list[str]:
    """Ablation factor levels as ``factor:level`` tags, so W&B can filter and group by each."""
    tags = [f"{factor}:{choices[factor]}" for factor in (*NAME_FACTORS, "data") if factor in choices]
    tags += [f"lang:{cfg.prompt.language}", f"seed:{cfg.seed}", f"split:{cfg.data.split.scheme}"]
    if cfg.data.split.get("index") is not None:
        tags.append(f"fold:{cfg.data.split.index}")
    augment_ratio = cfg.get("augment", {}).get("ratio")
    if augment_ratio is not None:
        tags.append(f"aug_ratio:{augment_ratio}")
    tags += list(cfg.logger.get("tags") or [])
    return tags


def init_run(cfg: DictConfig, run_dir: Path, name: str, tags: list[str], group: str | None) -> Any | None:
    """Start (or resume, via the id stored in ``run_dir``) the W&B run; None when ``logger.enabled`` is false."""
    if not cfg.logger.get("enabled", True):
        os.environ["WANDB_DISABLED"] = "true"
        return None
    import wandb

    id_file = run_dir / RUN_ID_FILE
    run_id = id_file.read_text().strip() if id_file.exists() else secrets.token_hex(4)
    id_file.write_text(run_id)
    run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.get("entity"),
        mode=cfg.logger.mode,
        group=group,
        name=name,
        tags=tags,
        id=run_id,
        resume="allow",
        dir=str(run_dir),
        config=OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
        job_type=cfg.logger.get("job_type", "train"),
    )
    run.config.update({"output_dir": str(run_dir)}, allow_val_change=True)
    log.info("W&B run %s (%s, mode=%s) in %s", name, run_id, cfg.logger.mode, run_dir)
    return run


def log_predictions_table(run: Any | None, records: list[dict[str, Any]], key: str = "test/predictions") -> None:
    """Document, gold, prediction and violations per test document, as a W&B table."""
    if run is None:
        return
    import wandb

    def show(triplets: list[dict[str, Any]]) -> str:
        return "\n".join(f"({t['emotion']}, {t['cause']}, {t['category']})" for t in triplets) or "None"

    table = wandb.Table(columns=["id", "document", "gold", "prediction", "raw output", "violations"])
    for record in records:
        violations = "; ".join(f"{v['kind']}: {v['detail']}" for v in record.get("violations", []))
        table.add_data(
            record["id"], record["text"], show(record["gold"]), show(record["triplets"]), record["output"], violations
        )
    run.log({key: table})


def finish(run: Any | None, exit_code: int = 0) -> None:
    if run is not None:
        import wandb

        wandb.finish(exit_code=exit_code)
