"""A real 2x2 multirun on the tiny model -> distinct W&B runs -> the sweep report's table, CSV and plot."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.data.paths import REPO_ROOT
from ecct.report import main as report_main
from ecct.report import summarize

SWEEPS = sorted(p.stem for p in (REPO_ROOT / "experiments" / "sweep").glob("*.yaml"))


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_composes_as_a_multirun(sweep: str, monkeypatch: pytest.MonkeyPatch, compose_config) -> None:
    monkeypatch.chdir(REPO_ROOT)  # experiments/ is on the search path relative to the repository root
    cfg = compose_config(f"+sweep={sweep}", hydra=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.sweep_name == sweep
    assert cfg.hydra.sweeper.params, "a sweep must name its factor levels"


def test_the_cpu_instruction_sweep_is_the_cpu_recipe_on_a_shorter_budget(
    monkeypatch: pytest.MonkeyPatch, compose_config
) -> None:
    # Issue 17 allows <= 45 min of training a job (240 steps: ~40 min here), so the sweep pins its budget rather
    # than follow the recipe if the recipe's schedule grows (2 epochs, 390 steps, take ~1 h).
    monkeypatch.chdir(REPO_ROOT)
    sweep, recipe = compose_config("+sweep=instructions_cpu", hydra=True), compose_config("+experiment=cpu")
    assert sweep.trainer.max_steps == 240 <= recipe.trainer.max_steps
    assert sweep.trainer.max_steps % sweep.trainer.save_steps == 0  # the last step is saved and tested
    assert sweep.eval.max_dev_documents == 0  # a fixed budget: the last step is tested, no dev generation
    assert set(sweep.hydra.sweeper.params) == {"prompt", "seed"}
    # Otherwise the recipe itself: same model, adapter, learning rate, decoding and data.
    for group in ("model", "peft", "data", "augment", "shared_prefix"):
        assert sweep[group] == recipe[group], group
    assert sweep.trainer.learning_rate == recipe.trainer.learning_rate
    assert sweep.eval.cause_clauses == recipe.eval.cause_clauses and sweep.eval.constrained


def test_slurm_launcher_config_composes(monkeypatch: pytest.MonkeyPatch, compose_config) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher (extra 'slurm')")
    monkeypatch.chdir(REPO_ROOT)
    cfg = compose_config("+sweep=smoke", "+slurm=submitit", hydra=True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")


@pytest.fixture(scope="module")
def smoke_sweep(tmp_path_factory: pytest.TempPathFactory, run_module) -> Path:
    """Runs `python -m ecct.train +sweep=smoke` (prompt=desc,full x seed=1,2) once for the module."""
    sweep_dir = tmp_path_factory.mktemp("sweep")
    result = run_module("ecct.train", "+sweep=smoke", "logger=wandb", f"hydra.sweep.dir={sweep_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep_dir


def test_sweep_jobs_are_distinct_wandb_runs_in_one_group(smoke_sweep: Path) -> None:
    jobs = sorted(p for p in smoke_sweep.iterdir() if (p / "metrics.json").exists())
    assert len(jobs) == 4
    run_ids, names = set(), set()
    for job in jobs:
        [offline_run] = (job / "wandb").glob("offline-run-*")
        run_ids.add((job / "wandb_run_id.txt").read_text())
        cfg = OmegaConf.load(job / "config.yaml")
        names.add((cfg.prompt.name, cfg.seed))
        assert cfg.sweep_name == "smoke"
        assert offline_run.is_dir()
    assert len(run_ids) == 4
    assert names == {("desc", 1), ("desc", 2), ("full", 1), ("full", 2)}


def test_report_tables_the_sweep_with_mean_and_std(smoke_sweep: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert report_main([str(smoke_sweep), "--out", str(out)]) == 0
    result = summarize(smoke_sweep)
    assert result.factors == ["prompt"]  # seed is a replicate, not a factor
    assert [row["levels"]["prompt"] for row in result.rows] == ["desc", "full"]
    for row in result.rows:
        assert row["n"] == 2
        f1s = [
            json.loads((job / "metrics.json").read_text())["test/span/triplet/f1"]
            for job in smoke_sweep.iterdir()
            if (job / ".hydra").is_dir() and OmegaConf.load(job / "config.yaml").prompt.name == row["levels"]["prompt"]
        ]
        assert row["stats"]["test/span/triplet/f1"]["mean"] == pytest.approx(sum(f1s) / 2)
    markdown = (out / "report.md").read_text()
    assert "| prompt | runs | triplet F1" in markdown and "| desc | 2 |" in markdown
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["prompt"] for r in rows] == ["desc", "full"]
    png = out / "f1_by_prompt.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert "Sweep report" in capsys.readouterr().out


def test_report_lists_failed_and_missing_jobs(smoke_sweep: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(smoke_sweep, broken, ignore=shutil.ignore_patterns("wandb", "checkpoints", "adapter"))
    jobs = sorted(p for p in broken.iterdir() if (p / ".hydra").is_dir())
    (jobs[0] / "metrics.json").unlink()  # a job that crashed
    shutil.rmtree(jobs[-1])  # a job that never started
    assert report_main([str(broken), "--out", str(tmp_path / "r")]) == 1
    result = summarize(broken)
    assert [job.path for job in result.failed] == [jobs[0]]
    assert len(result.missing) == 1
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "Failed jobs (1)" in markdown and "Missing jobs (1)" in markdown


def _baseline_run(path: Path, triplet_f1: float | None) -> Path:
    """A baseline job directory as Hydra leaves it; ``None``: it crashed before writing metrics.json."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text(f"- seed={len(list(path.parent.iterdir()))}\n")
    (path / "config.yaml").write_text("experiment_name: baseline\n")
    if triplet_f1 is not None:
        metrics = {"test/span/triplet/f1": triplet_f1, "test/span/emotion/f1": 2 * triplet_f1, "encoder": "e5"}
        metrics["test/n_documents"] = 999  # more than the smoke sweep tests on
        (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def test_report_puts_the_baseline_alongside_the_sweep(smoke_sweep: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "multirun" / "baseline"
    _baseline_run(baseline / "0_seed=1", 0.1)
    _baseline_run(baseline / "1_seed=2", 0.3)
    single = _baseline_run(tmp_path / "one_run", 0.2)
    plain, with_baseline = tmp_path / "plain", tmp_path / "with_baseline"
    assert report_main([str(smoke_sweep), "--out", str(plain)]) == 0
    assert report_main([str(smoke_sweep), "--out", str(with_baseline), "--baseline", str(baseline)]) == 0
    markdown = (with_baseline / "report.md").read_text()
    assert "| BERT baseline | 2 | 0.200 ± 0.141 |" in markdown
    assert "| BERT baseline |" not in (plain / "report.md").read_text()
    assert "different numbers of documents (BERT baseline 999" in markdown
    assert "Not comparable" not in (plain / "report.md").read_text()
    with (with_baseline / "report.csv").open() as handle:
        last = list(csv.DictReader(handle))[-1]
    assert last["prompt"] == "BERT baseline" and float(last["test/span/emotion/f1_mean"]) == pytest.approx(0.4)
    # The reference line changes the plot.
    assert (with_baseline / "f1_by_prompt.png").read_bytes() != (plain / "f1_by_prompt.png").read_bytes()
    # Several directories pool their runs; a crashed baseline run is reported, not dropped.
    _baseline_run(baseline / "2_seed=3", None)
    result = summarize(smoke_sweep, [baseline, single])
    assert result.baseline["n"] == 3 and result.baseline["failed"] == 1
    assert [job.path.name for job in result.failed] == ["2_seed=3"]
    assert report_main([str(smoke_sweep), "--out", str(tmp_path / "r"), "--baseline", str(baseline)]) == 1
    assert report_main([str(smoke_sweep), "--baseline", str(tmp_path / "nowhere")]) == 2


def test_report_of_a_sweep_with_one_level_so_far_labels_its_row_and_the_baseline_rows(tmp_path: Path) -> None:
    # A sweep's first finished job (no factor varies yet) beside the rule floor: both rows keep their labels.
    sweep, floor = tmp_path / "sweep", tmp_path / "floor"
    _baseline_run(sweep / "0_prompt=full,seed=1", 0.25)
    _baseline_run(floor / "0_seed=1", 0.15)
    metrics = json.loads((floor / "0_seed=1" / "metrics.json").read_text())
    (floor / "0_seed=1" / "metrics.json").write_text(json.dumps({**metrics, "method": "rules"}))
    out = tmp_path / "report"
    assert report_main([str(sweep), "--out", str(out), "--baseline", str(floor), "--bootstrap-resamples", "0"]) == 0
    markdown = (out / "report.md").read_text()
    assert "| run | runs | triplet F1 |" in markdown
    assert "| sweep | 1 | 0.250 |" in markdown and "| Rule-based floor | 1 | 0.150 |" in markdown
    with (out / "report.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["run"], float(r["test/span/triplet/f1_mean"])) for r in rows] == [
        ("sweep", 0.25),
        ("Rule-based floor", 0.15),
    ]


def test_report_is_headed_by_its_title_and_the_command_that_made_it(tmp_path: Path) -> None:
    sweep = tmp_path / "jobs"
    _baseline_run(sweep / "0_prompt=full,seed=1", 0.25)
    args = [str(sweep), "--out", str(tmp_path / "report"), "--bootstrap-resamples", "0"]
    assert report_main([*args, "--title", "Instruction ablation (CPU)"]) == 0
    lines = (tmp_path / "report" / "report.md").read_text().splitlines()
    assert lines[0] == "# Instruction ablation (CPU)"
    made_by = f"Made by `python -m ecct.report {sweep} --out {tmp_path / 'report'} --bootstrap-resamples 0"
    assert lines[2] == made_by + " --title 'Instruction ablation (CPU)'`."
    assert report_main(args) == 0  # no title: the folder's name, as before
    assert (tmp_path / "report" / "report.md").read_text().startswith("# Sweep report: jobs\n")
