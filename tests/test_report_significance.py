"""The report's comparison with the reference level, on hand-made run folders (two factors, two seeds)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ecct.report import main as report_main
from ecct.report import summarize
from ecct.runs.significance import reference_level

N_DOCS = 10
HITS = {"desc": 4, "full": 9}  # documents each prompt gets right (the rest: a wrong cause)


def _run(path: Path, overrides: list[str], hits: int, lie: bool = False) -> None:
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    records = []
    for i in range(N_DOCS):
        gold = {"emotion": "afraid", "cause": f"event {i}", "category": "fear"}
        guess = gold if i < hits else {**gold, "cause": "something else"}
        records.append(
            {"id": f"d{i}", "text": f"She was afraid of event {i}.", "output": "", "triplets": [guess],
             "violations": [], "gold": [gold]}
        )  # fmt: skip
    (path / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    tp = hits + lie
    metrics = {
        "test/span/triplet/f1": hits / N_DOCS,
        "test/span/triplet/tp": tp,
        "test/span/triplet/fp": N_DOCS - hits,
        "test/span/triplet/fn": N_DOCS - hits,
        "test/n_documents": N_DOCS,
    }
    (path / "metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    n = 0
    for prompt in ("desc", "full"):
        for ratio in ("0.0", "0.5"):
            for seed in (1, 2):
                hits = HITS[prompt] - (seed == 2 and prompt == "desc")  # desc is a little worse with seed 2
                lie = prompt == "full" and ratio == "0.5" and seed == 2
                _run(root / f"{n}_run", [f"prompt={prompt}", f"augment.ratio={ratio}", f"seed={seed}"], hits, lie)
                n += 1
    return root


def test_levels_against_the_reference_per_seed_pooled_and_bootstrapped(sweep: Path, tmp_path: Path) -> None:
    result = summarize(sweep, n_resamples=500, bootstrap_seed=1)
    assert result.references == {"augment.ratio": "0.0", "prompt": "full"}
    by_key = {(c.factor, c.level, tuple(c.context.values())): c for c in result.comparisons}
    desc = by_key[("prompt", "desc", ("0.0",))]
    assert desc.per_replicate == pytest.approx({"seed=1": -0.5, "seed=2": -0.6})  # F1 = hits / 10 here
    assert desc.mean_difference == pytest.approx(-0.55) and desc.replicate_std == pytest.approx(0.0707, abs=1e-4)
    boot = desc.bootstrap
    assert boot is not None and boot.n_documents == N_DOCS and boot.n_pairs == 2 * N_DOCS
    assert boot.difference == pytest.approx(-0.55) and boot.high < 0 and boot.excludes_zero
    same = by_key[("augment.ratio", "0.5", ("desc",))]
    assert same.bootstrap is not None and (same.bootstrap.low, same.bootstrap.high) == (0.0, 0.0)
    assert by_key[("augment.ratio", "0.5", ("full",))].runs_disagreeing == 1  # its metrics.json says tp + 1

    out = tmp_path / "report"
    assert report_main([str(sweep), "--out", str(out), "--bootstrap-resamples", "500", "--bootstrap-seed", "1"]) == 0
    markdown = (out / "report.md").read_text()
    assert markdown.index("**Method.**") < markdown.index("| augment.ratio | prompt | runs |")
    assert "500 resamples, numpy `default_rng(1)`" in markdown
    assert "| prompt | desc (augment.ratio=0.0) | full | 2 | 10 | -0.550 | 0.071 (-0.600 … -0.500) |" in markdown
    assert "run(s) whose recount differs from metrics.json" in markdown
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    row = next(r for r in rows if r["prompt"] == "desc" and r["augment.ratio"] == "0.0")
    assert float(row["prompt:delta_triplet_f1_mean"]) == pytest.approx(-0.55)
    assert row["prompt:delta_ci_excludes_0"] == "True" and row["prompt:reference"] == "full"
    assert row["augment.ratio:reference"] == "0.0" and row["augment.ratio:delta_triplet_f1_mean"] == ""

    # Another reference flips the sign; an unknown one is an error; 0 resamples: no comparison.
    flipped = summarize(sweep, references={"prompt": "desc"}, n_resamples=200)
    assert {c.level for c in flipped.comparisons if c.factor == "prompt"} == {"full"}
    assert all(c.mean_difference > 0 for c in flipped.comparisons if c.factor == "prompt")
    assert report_main([str(sweep), "--out", str(out), "--reference", "prompt=nope"]) == 2
    assert summarize(sweep, n_resamples=0).comparisons == []


def test_a_sweep_split_across_directories_reports_as_one(sweep: Path, tmp_path: Path) -> None:
    # One command per seed, side by side, each in its own sweep dir: pooled, the same table and comparisons.
    halves = {1: tmp_path / "seed1", 2: tmp_path / "seed2"}
    for half in halves.values():
        half.mkdir()
    for job in sorted(sweep.iterdir()):
        seed = 1 if "- seed=1" in (job / ".hydra" / "overrides.yaml").read_text() else 2
        job.rename(halves[seed] / job.name)
    whole = summarize([halves[1], halves[2]], n_resamples=300, bootstrap_seed=3)
    one_half = summarize(halves[1], n_resamples=0)
    assert [row["n"] for row in whole.rows] == [2, 2, 2, 2] and [row["n"] for row in one_half.rows] == [1, 1, 1, 1]
    desc = next(c for c in whole.comparisons if c.level == "desc" and c.context == {"augment.ratio": "0.0"})
    assert desc.per_replicate == pytest.approx({"seed=1": -0.5, "seed=2": -0.6})
    assert desc.bootstrap is not None and desc.bootstrap.n_pairs == 2 * N_DOCS
    out = tmp_path / "pooled"
    assert report_main([str(halves[1]), str(halves[2]), "--out", str(out), "--bootstrap-resamples", "0"]) == 0
    assert "Sweep report: seed1 + seed2" in (out / "report.md").read_text()
    assert report_main([str(halves[1]), str(tmp_path / "nowhere"), "--out", str(out)]) == 2


def test_reference_levels() -> None:
    assert reference_level("prompt", ["desc", "desc_rules", "full"]) == "full"
    assert reference_level("augment.ratio", ["0.25", "0.0", "1.0"]) == "0.0"  # the paper's "no augmentation"
    assert reference_level("trainer.learning_rate", ["3e-4", "1e-4"]) == "1e-4"  # no known one: the first level
    assert reference_level("prompt", ["desc", "full"], {"prompt": "desc"}) == "desc"
    with pytest.raises(ValueError, match="not a level"):
        reference_level("prompt", ["desc", "full"], {"prompt": "rules"})


def test_a_job_recorded_in_hydras_spelling_is_not_missing(tmp_path: Path) -> None:
    """Hydra's basic sweeper records ``disable_tqdm=true`` as ``True``: the job ran, so it is not missing."""

    def sweep_dir(name: str, asked: str) -> Path:
        root = tmp_path / name
        _run(root / "0_run", ["seed=1", "stage1.trainer.disable_tqdm=True"], hits=5)
        (root / "multirun.yaml").write_text(
            f"hydra:\n  overrides:\n    task: [seed=1, 'stage1.trainer.disable_tqdm={asked}']\n"
        )
        return root

    assert summarize(sweep_dir("same", "true")).missing == []
    assert summarize(sweep_dir("other", "false")).missing == [{"seed": "1", "stage1.trainer.disable_tqdm": "false"}]
