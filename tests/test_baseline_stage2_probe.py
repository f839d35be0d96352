"""End to end with the tiny encoder: a stage-2-only probe, and a pipeline reusing a trained stage 1 with the first
baseline's stage 2 (every old setting is still reachable from the command line)."""

from __future__ import annotations

import json
from pathlib import Path

TINY = ["encoder=tiny", "logger=none", "stage1.trainer.num_train_epochs=1", "stage2.trainer.num_train_epochs=1"]
FIRST_STAGE2 = [
    "stage2.max_length=160",
    "stage2.context=window",
    "stage2.distance=false",
    "stage2.negatives=nearest",
    "stage2.negatives_per_emotion=2",
    "stage2.tune_threshold_on=training_pairs",
    "stage2.pooling=cls",
]


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_a_stage2_only_probe_trains_no_tagger_and_scores_stage2_on_gold_spans(tmp_path: Path, run_module) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "probe"
    result = run_module("ecct.baseline", *TINY, "stage2_only=true", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.yaml", "metrics.json", "predictions.jsonl", "train_log.jsonl", "stage2/model/config.json"):
        assert (run / name).exists(), name
    assert not (run / "stage1").exists()
    saved = json.loads((run / "stage2" / "model" / "config.json").read_text())
    assert saved["architectures"] == ["SpanPairClassifier"]  # stage2.pooling=spans, the default
    metrics = _metrics(run)
    assert metrics["method"] == "bert_stage2_only" and metrics["stage2_only"] is True
    assert "test/span/triplet/f1" not in metrics and "stage1/steps" not in metrics
    for key in ("test/gold_spans/span/triplet/f1", "test/stage2/pairs/f1", "test/stage2/pairs/relation/f1"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert 0.0 < metrics["stage2/gold_spans/none_threshold"] < 1.0
    assert 0 < metrics["stage2/train_pairs/positive"] < metrics["stage2/train_pairs/negative"]
    log = result.stdout + result.stderr
    positive, negative = metrics["stage2/train_pairs/positive"], metrics["stage2/train_pairs/negative"]
    assert f"{positive} positive, {negative} negative" in log  # the training pairs are logged
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == metrics["data/n_test"] == 3
    stages = {json.loads(line)["stage"] for line in (run / "train_log.jsonl").read_text().splitlines()}
    assert stages == {"stage2"}


def test_a_pipeline_reuses_a_saved_stage1_and_can_run_the_first_baselines_stage2(tmp_path: Path, run_module) -> None:  # type: ignore[no-untyped-def]
    first, second = tmp_path / "first", tmp_path / "second"
    result = run_module("ecct.baseline", *TINY, f"hydra.run.dir={first}")
    assert result.returncode == 0, result.stderr[-3000:]
    model_dir = first / "stage1" / "model"
    reuse = [f"stage1.model_dir={model_dir}", f"hydra.run.dir={second}"]
    again = run_module("ecct.baseline", *TINY, *FIRST_STAGE2, *reuse)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "loading the saved model" in again.stdout + again.stderr and not (second / "stage1").exists()
    old, new = _metrics(first), _metrics(second)
    assert new["stage1/steps"] == old["stage1/steps"]  # from the first run's stage1/training.json
    stage1_keys = [k for k in old if k.startswith("test/stage1/")]
    assert stage1_keys and all(new[k] == old[k] for k in stage1_keys)  # the same tagger, the same spans
    # The first baseline's sampling: fewer negatives (two nearest clauses per emotion), the same positives.
    assert new["stage2/train_pairs/positive"] == old["stage2/train_pairs/positive"]
    assert new["stage2/train_pairs/negative"] < old["stage2/train_pairs/negative"]
    # training_pairs: one threshold, chosen on the dev training pairs, for every source
    assert new["stage2/none_threshold"] == new["stage2/gold_spans/none_threshold"] == new["stage2/pairs/none_threshold"]
