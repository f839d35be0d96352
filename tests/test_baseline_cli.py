"""``python -m ecct.baseline``: config composition and an end-to-end tiny run writing the LLM runs' outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import ecct.baseline.__main__  # noqa: F401  (registers the resolver that points hydra.searchpath at conf/)
from ecct.data.paths import REPO_ROOT

CONF = REPO_ROOT / "conf" / "baseline"
ENCODERS = sorted(p.stem for p in (CONF / "encoder").glob("*.yaml"))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_encoder_config_composes_with_the_shared_data_and_logger_groups(encoder: str, compose_config) -> None:
    cfg = compose_config(f"encoder={encoder}", "data=gui2016", "logger=none", conf_dir=CONF)
    assert cfg.encoder.name == encoder
    assert cfg.data.name == "gui2016" and cfg.data.split.scheme == "split20"  # conf/data, not a copy
    assert cfg.logger.enabled is False
    OmegaConf.resolve(cfg)


# Tiny and short: 1 epoch per stage on the demo corpus (24 training documents).
TINY = [
    "encoder=tiny",
    "logger=wandb",
    "stage1.trainer.num_train_epochs=1",
    "stage2.trainer.num_train_epochs=1",
    "eval.batch_size=4",
]


def test_a_tiny_run_writes_the_same_outputs_as_an_llm_run_and_resumes(tmp_path: Path, run_module) -> None:
    run = tmp_path / "run"
    result = run_module("ecct.baseline", *TINY, f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.yaml", "versions.json", "metrics.json", "predictions.jsonl", "train_log.jsonl"):
        assert (run / name).exists(), name
    for stage in ("stage1", "stage2"):
        assert (run / stage / "model" / "config.json").exists()
        assert not (run / stage / "checkpoints").exists()  # deleted once the model is saved
    assert list((run / "wandb").glob("offline-run-*")), "no offline W&B run"

    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test/span/triplet/f1"] <= 1.0 and 0.0 <= metrics["test/word/triplet/f1"] <= 1.0
    assert metrics["data/n_test"] == metrics["test/n_documents"] == 3
    assert metrics["stage1/steps"] > 0 and metrics["stage2/steps"] > 0 and metrics["train/seconds"] > 0
    assert 0.0 < metrics["stage2/none_threshold"] < 1.0  # chosen on the dev part (stage2.none_threshold: dev)
    assert "test/gold_spans/span/triplet/f1" in metrics and "test/stage1/emotion/f1" in metrics

    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 3
    for record in records:
        assert set(record) == {"id", "text", "output", "triplets", "violations", "gold"}
        assert record["violations"] == []
        for triplet in record["triplets"]:  # spans are offsets into the document, copied verbatim
            span = triplet["cause_span"]
            assert record["text"][span["start"] : span["end"]] == triplet["cause"]
    stages = {json.loads(line)["stage"] for line in (run / "train_log.jsonl").read_text().splitlines()}
    assert stages == {"stage1", "stage2"}
    resolved = OmegaConf.load(run / "config.yaml")
    assert resolved.encoder.source == "tiny" and resolved.data.name == "demo"

    # The same command again: a finished run is skipped (ecct.runs.resume), its results untouched.
    written = (run / "metrics.json").stat().st_mtime_ns
    skipped = run_module("ecct.baseline", *TINY, f"hydra.run.dir={run}")
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    assert "skipped" in skipped.stdout + skipped.stderr and (run / "metrics.json").stat().st_mtime_ns == written
    # Without its metrics.json (killed while testing): both stages are loaded, not retrained, same numbers.
    (run / "metrics.json").unlink()
    again = run_module("ecct.baseline", *TINY, f"hydra.run.dir={run}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert (again.stdout + again.stderr).count("model already trained") == 2  # Hydra logs to stdout
    repeated = json.loads((run / "metrics.json").read_text())
    assert repeated["test/span/triplet/f1"] == metrics["test/span/triplet/f1"]
    assert repeated["stage1/steps"] == metrics["stage1/steps"]  # from stage1/training.json
    assert repeated["stage2/none_threshold"] == metrics["stage2/none_threshold"]
