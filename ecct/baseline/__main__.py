"""``python -m ecct.baseline [overrides]``: train and test the two-step BERT-Classifier baseline, or the rule floor.

E.g. ``python -m ecct.baseline data=gui2016 encoder=e5_small``; ``method=rules`` runs the rule-based floor
(``ecct.baseline.rules``) instead. One Hydra job = one W&B run = one run directory,
holding what an LLM run holds (``config.yaml``, ``versions.json``, ``metrics.json``, ``predictions.jsonl``,
``train_log.jsonl``) plus the two stage models, so both kinds of run land in one comparison table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from ecct import CONF_DIR
from ecct.runs import resolvers
from ecct.runs.job import run_job

log = logging.getLogger(__name__)

# hydra.searchpath in conf/baseline/config.yaml points here, so conf/data and conf/logger are shared with ecct.train.
OmegaConf.register_new_resolver("ecct_conf_dir", lambda: str(CONF_DIR), replace=True)
resolvers.register()  # hydra.sweep.subdir uses ${ecct_subdir:...}: without it every -m run failed to start


def _split_label(cfg: DictConfig) -> str:
    split = cfg.data.split
    index = split.get("index", split.get("fold"))
    return f"{split.scheme}.{index}" if index is not None else str(split.scheme)


def _model_label(choices: Mapping[str, str], cfg: DictConfig | None = None) -> str:
    """The encoder for the BERT pipeline (``+stage2`` for a stage-2-only probe), ``rules`` for the rule floor."""
    if choices.get("method") == "rules":
        return "rules"
    stage2_only = cfg is not None and cfg.get("stage2_only") is True
    return choices.get("encoder", "?") + ("+stage2" if stage2_only else "")


def baseline_run_name(cfg: DictConfig, choices: Mapping[str, str]) -> str:
    """E.g. ``baseline-e5_small-gui2016-s42-split20.1``, ``baseline-rules-gui2016-s42-split20.1``."""
    return f"baseline-{_model_label(choices, cfg)}-{choices.get('data', '?')}-s{cfg.seed}-{_split_label(cfg)}"


def baseline_tags(cfg: DictConfig, choices: Mapping[str, str]) -> list[str]:
    """The LLM runs' tag scheme (``factor:level``), with the method and encoder (or ``rules``) as the model factor."""
    tags = [
        "method:baseline",
        f"model:baseline_{_model_label(choices, cfg)}",
        f"data:{choices.get('data', '?')}",
        f"seed:{cfg.seed}",
        f"split:{cfg.data.split.scheme}",
    ]
    index = cfg.data.split.get("index", cfg.data.split.get("fold"))
    if index is not None:
        tags.append(f"fold:{index}")
    return tags + list(cfg.logger.get("tags") or [])


@hydra.main(version_base="1.3", config_path=str(CONF_DIR / "baseline"), config_name="config")
def main(cfg: DictConfig) -> float:
    if cfg.method.name == "rules":
        from ecct.baseline.rules import run
    else:  # heavy imports after Hydra has parsed the command line
        from ecct.baseline.pipeline import run

    hydra_cfg = HydraConfig.get()
    choices = dict(hydra_cfg.runtime.choices)
    name = cfg.get("run_name") or baseline_run_name(cfg, choices)
    metrics = run_job(cfg, name, baseline_tags(cfg, choices), run)
    # a stage-2-only probe has no pipeline score: its gold-span one
    return float(metrics.get("test/span/triplet/f1", metrics.get("test/gold_spans/span/triplet/f1", 0.0)))


if __name__ == "__main__":
    main()
