"""``python -m ecct.augment``: config composition, and one end-to-end run with the tiny model on the demo corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.augment.filters import REASONS
from ecct.augment.pipeline import AugmentSettings
from ecct.data.paths import REPO_ROOT

CONF = REPO_ROOT / "conf"


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "augment").glob("*.yaml")))
def test_every_augment_config_composes_into_valid_settings(name: str, compose_config) -> None:
    served = ["augment.generator.model=served-model"] if name == "openai" else []
    cfg = compose_config(f"augment={name}", *served)
    OmegaConf.resolve(cfg)
    settings = AugmentSettings.from_config(cfg.augment)
    assert settings.name == name
    if name == "none":
        assert settings.ratio == 0.0
    else:
        assert settings.ratio > 0 and settings.generator["type"] in ("local", "openai")
    if name == "local":
        assert settings.generator["model"]["source"] == "embedded"  # the offline default


@pytest.mark.slow  # a subprocess that imports the training stack: ~20 s on an idle 2-core machine, minutes when shared
def test_cli_reports_yield_and_writes_its_outputs(tmp_path: Path, run_module) -> None:
    run_dir = tmp_path / "run"
    result = run_module(
        "ecct.augment",
        *[
            "data=demo",
            "augment=local",
            "augment.max_sources=3",
            "augment.max_rounds=1",
            "augment.generator.model.source=tiny",
            "augment.sampling.max_new_tokens=16",
            f"augment.cache_dir={tmp_path / 'cache'}",
            f"hydra.run.dir={run_dir}",
        ],
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "generated 3 (3 in this run" in result.stdout and "yield" in result.stdout
    report = json.loads((run_dir / "augment_report.json").read_text())
    assert report["augment/generated"] == 3 and report["augment/sources_used"] == 3
    assert report["augment/accepted"] + sum(report[f"augment/rejected/{r}"] for r in REASONS) == 3
    candidates = [json.loads(line) for line in (run_dir / "candidates.jsonl").read_text().splitlines()]
    assert len(candidates) == 3 and all(c["verdict"] in (*REASONS, "accepted") for c in candidates)
    # Short by design (a random model, one round): said in the report and on stderr, never hidden.
    assert report["augment/shortfall"] == report["augment/requested"] - report["augment/added"] > 0
    assert "short by" in (result.stdout + result.stderr).lower()
