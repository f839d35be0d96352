"""A sweep finishes whatever stops it: re-running the same command skips finished jobs, resumes the killed one
from its checkpoint in the same W&B run and runs the rest; the report says which is which."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.archive import main as archive_main
from ecct.data.paths import REPO_ROOT
from ecct.report import main as report_main
from ecct.report import summarize
from ecct.runs import resume
from ecct.runs.archive import ArchiveConflict, archive
from ecct.runs.predictions import read_run_counts

# Wraps `python -m ecct.train`: every Trainer records its optimizer steps (job folder, global step) in
# $SPY_STEPS, and the job whose folder starts with $KILL_JOB SIGKILLs itself once checkpoint $KILL_STEP is saved.
WRAPPER = """
import os, runpy, signal
from pathlib import Path
import transformers

class Spy(transformers.TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        with open(os.environ["SPY_STEPS"], "a") as f:
            f.write(f"{Path(args.output_dir).parent.name}\\t{state.global_step}\\n")

    def on_save(self, args, state, control, **kwargs):
        job = Path(args.output_dir).parent.name
        if os.environ.get("KILL_JOB") and job.startswith(os.environ["KILL_JOB"]):
            if state.global_step >= int(os.environ["KILL_STEP"]):
                os.kill(os.getpid(), signal.SIGKILL)

original = transformers.Trainer.__init__

def patched(self, *args, **kwargs):
    original(self, *args, **kwargs)
    self.add_callback(Spy())

transformers.Trainer.__init__ = patched
runpy.run_module("ecct.train", run_name="__main__", alter_sys=True)
"""

SWEEP = [
    "+sweep=smoke",
    "hydra.sweeper.params.prompt='desc,desc_rules,full'",
    "hydra.sweeper.params.seed=1",
    "logger=wandb",
    "trainer.max_steps=4",
    "trainer.save_steps=2",
    "trainer.eval_steps=2",
    "eval.max_new_tokens=8",
    "eval.max_dev_documents=1",
]


def _sweep(wrapper: Path, sweep_dir: Path, spy: Path, *overrides: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(wrapper), *SWEEP, f"hydra.sweep.dir={sweep_dir}", *overrides],
        cwd=REPO_ROOT,
        env={**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", "SPY_STEPS": str(spy), **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _steps(spy: Path, job: Path) -> list[int]:
    lines = [line.split("\t") for line in spy.read_text().splitlines()] if spy.exists() else []
    return [int(step) for name, step in lines if name == job.name]


def _attempts(job: Path) -> list[dict]:
    return [json.loads(line) for line in (job / resume.ATTEMPTS_FILE).read_text().splitlines()]


def test_a_killed_sweep_rerun_skips_finished_jobs_resumes_the_killed_one_and_runs_the_rest(tmp_path: Path) -> None:
    wrapper = tmp_path / "train_with_spy.py"
    wrapper.write_text(WRAPPER)
    sweep_dir, first_spy, second_spy = tmp_path / "sweep", tmp_path / "steps1.tsv", tmp_path / "steps2.tsv"

    # The first run keeps each job as it ends (the Makefile's KEEP_JOBS_IN): the kill loses no finished job.
    kept_as_they_end = tmp_path / "kept-as-they-end"
    keep = ["+hydra.callbacks.keep._target_=ecct.runs.archive.KeepFinishedJobs"]
    keep.append(f"+hydra.callbacks.keep.to={kept_as_they_end}")
    killed = _sweep(wrapper, sweep_dir, first_spy, *keep, KILL_JOB="1_", KILL_STEP="2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    done, cut = (next(sweep_dir.glob(f"{i}_*")) for i in (0, 1))
    assert sorted(p.name for p in kept_as_they_end.iterdir()) == sorted([done.name, "multirun.yaml"])
    assert (kept_as_they_end / done.name / "metrics.json").read_text() == (done / "metrics.json").read_text()
    assert (kept_as_they_end / done.name / "document_counts.jsonl").exists()
    assert not (kept_as_they_end / done.name / "predictions.jsonl").exists()
    assert not list(sweep_dir.glob("2_*")), "the job after the killed one never started"
    assert (done / "metrics.json").exists() and not (cut / "metrics.json").exists()
    assert _steps(first_spy, cut) == [1, 2]
    assert (cut / "checkpoints" / "checkpoint-2" / "trainer_state.json").exists()
    run_id = (cut / "wandb_run_id.txt").read_text()
    # A checkpoint cut short by the kill (weights written, trainer state not): set aside, never resumed from.
    partial = cut / "checkpoints" / "checkpoint-3"
    partial.mkdir()
    (partial / "adapter_model.safetensors").write_bytes(b"cut")
    frozen = {name: (done / name).stat().st_mtime_ns for name in ("metrics.json", "config.yaml", "predictions.jsonl")}

    interrupted = summarize(sweep_dir, n_resamples=0)
    assert [job.status for job in interrupted.jobs] == ["finished", "failed"]
    assert len(interrupted.missing) == 1 and interrupted.missing[0]["prompt"] == "full"
    assert report_main([str(sweep_dir), "--out", str(tmp_path / "r1"), "--bootstrap-resamples", "0"]) == 1
    assert (
        "| `" + cut.name + "` | failed | 1 attempt(s) killed; last checkpoint: step 2 |"
        in (tmp_path / "r1" / "report.md").read_text()
    )

    rerun = _sweep(wrapper, sweep_dir, second_spy)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    new = next(sweep_dir.glob("2_*"))
    # Finished: skipped, nothing rewritten.
    assert {name: (done / name).stat().st_mtime_ns for name in frozen} == frozen
    assert _steps(second_spy, done) == []
    assert [a["action"] for a in _attempts(done) if a["event"] == "start"] == ["start", "skip"]
    # Killed: resumed from step 2 (steps 3 and 4 trained, not 1 and 2 again), in the same W&B run.
    assert _steps(second_spy, cut) == [3, 4]
    metrics = json.loads((cut / "metrics.json").read_text())
    assert metrics["train/steps"] == 4
    starts = [a for a in _attempts(cut) if a["event"] == "start"]
    assert [(a["action"], a.get("step")) for a in starts] == [("start", None), ("resume", 2)]
    assert starts[1]["set_aside"] == ["checkpoints/checkpoint-3"]
    assert (cut / "checkpoints" / "incomplete-checkpoint-3").is_dir()
    assert (cut / "wandb_run_id.txt").read_text() == run_id
    assert [a["wandb_run_id"] for a in starts] == [run_id, run_id]
    assert len(list((cut / "wandb").glob(f"offline-run-*-{run_id}"))) == 2
    # Never started: run.
    assert _steps(second_spy, new) == [1, 2, 3, 4] and (new / "metrics.json").exists()

    out = tmp_path / "r2"
    assert report_main([str(sweep_dir), "--out", str(out)]) == 0
    result = summarize(sweep_dir)
    assert [job.status for job in result.jobs] == ["finished"] * 3 and not result.missing
    assert [job.history.resumed_from for job in result.jobs] == [[], [2], []]
    assert [job.history.skipped for job in result.jobs] == [1, 0, 0]
    markdown = (out / "report.md").read_text()
    assert "3 finished (1 of them resumed), 0 failed, 0 refused, 0 missing" in markdown
    assert "| `" + cut.name + "` | finished | resumed 1x (from step 2); 1 attempt(s) killed;" in markdown
    assert "| `" + done.name + "` | finished | skipped 1x (already finished) |" in markdown
    with (out / "jobs.csv").open() as handle:
        jobs = list(csv.DictReader(handle))
    assert [(j["status"], j["resumed_from_steps"], j["skipped"]) for j in jobs] == [
        ("finished", "", "1"),
        ("finished", "2", "0"),
        ("finished", "", "0"),
    ]
    # The reference comparison on the finished sweep: prompt levels against prompt=full.
    assert "Against the reference level (prompt=full)" in markdown and "paired bootstrap" in markdown
    assert "| prompt | desc | full | 1 | 2 |" in markdown and "| prompt | desc_rules | full | 1 | 2 |" in markdown
    with (out / "report.csv").open() as handle:
        rows = {row["prompt"]: row for row in csv.DictReader(handle)}
    assert rows["full"]["reference"] == "full" and rows["full"]["delta_triplet_f1_pooled"] == ""
    f1 = {p: json.loads((job / "metrics.json").read_text()) for p, job in zip(rows, (done, cut, new), strict=True)}
    for prompt in ("desc", "desc_rules"):
        expected = f1[prompt]["test/span/triplet/f1"] - f1["full"]["test/span/triplet/f1"]
        assert float(rows[prompt]["delta_triplet_f1_mean"]) == pytest.approx(expected)
        assert float(rows[prompt]["delta_triplet_f1_ci_low"]) <= float(rows[prompt]["delta_triplet_f1_ci_high"])
        assert rows[prompt]["delta_ci_excludes_0"] in ("True", "False")
    assert all(c.runs_disagreeing == 0 for c in result.comparisons)  # recounts match each metrics.json

    # Kept without weights (ecct.archive) and brought to a new machine's sweep folder: a report reads the kept
    # folder like the sweep, and the next run of the sweep skips every job.
    kept, restored = tmp_path / "kept", tmp_path / "restored"
    assert archive_main([str(sweep_dir), str(kept)]) == 0
    assert not list(kept.glob("*/checkpoints")) and not list(kept.glob("*/wandb")) and (kept / "multirun.yaml").exists()
    assert not list(kept.glob("*/predictions.jsonl")) and len(list(kept.glob("*/document_counts.jsonl"))) == 3
    assert summarize(kept).comparisons == result.comparisons
    assert archive_main([str(kept), str(restored)]) == 0
    assert archive(sweep_dir, restored).already_there == [job.name for job in (done, cut, new)]

    # Under submitit (the SLURM launcher's local twin) the same decision is made, in each job: all three skipped.
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None:
        pytest.skip("hydra-submitit-launcher (extra 'slurm') is not installed")
    finished = {
        restored / job.name: (restored / job.name / "metrics.json").stat().st_mtime_ns for job in (done, cut, new)
    }
    local = [sys.executable, "-m", "ecct.train", *SWEEP, f"hydra.sweep.dir={restored}"]
    local.append("hydra/launcher=submitit_local")
    env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    submitted = subprocess.run(local, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    assert {job: (job / "metrics.json").stat().st_mtime_ns for job in finished} == finished
    assert [_attempts(job)[-1]["action"] for job in finished] == ["skip"] * 3


def _job(compose_config, run_dir: Path, *overrides: str):
    cfg = compose_config("+experiment=smoke", *overrides)
    run_dir.mkdir(parents=True, exist_ok=True)
    return cfg


def test_plan_skips_finished_refuses_another_config_and_ignores_result_neutral_keys(
    tmp_path: Path, compose_config
) -> None:
    run = tmp_path / "run"
    cfg = _job(compose_config, run)
    assert resume.plan(cfg, run).action == resume.START
    OmegaConf.save(cfg, run / "config.yaml", resolve=True)
    (run / "metrics.json").write_text("{}")
    assert resume.plan(cfg, run).action == resume.SKIP
    neutral = compose_config(
        "+experiment=smoke", "logger=wandb", "trainer.logging_steps=7", "resume=true", "data_dir=/elsewhere"
    )
    assert resume.plan(neutral, run).action == resume.SKIP
    changed = compose_config("+experiment=smoke", "trainer.max_steps=3", "trainer.learning_rate=0.001")
    refused = resume.plan(changed, run)
    assert refused.action == resume.REFUSE
    assert [d.split(":")[0] for d in refused.differences] == ["trainer.learning_rate", "trainer.max_steps"]
    assert "trainer.max_steps: 2 -> 3" in refused.differences
    message = resume.conflict_message(run, refused.differences)
    assert "hydra.sweep.dir" in message and "resume=false" in message
    assert resume.plan(compose_config("+experiment=smoke", "trainer.max_steps=3", "resume=false"), run).action == (
        resume.START
    )


def test_plan_resumes_from_the_latest_complete_checkpoint(tmp_path: Path, compose_config) -> None:
    run = tmp_path / "run"
    cfg = _job(compose_config, run)
    OmegaConf.save(cfg, run / "config.yaml", resolve=True)
    for step, complete in ((2, True), (4, True), (6, False)):
        folder = run / "checkpoints" / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        if complete:
            (folder / "trainer_state.json").write_text("{}")
    chosen = resume.plan(cfg, run)
    assert (chosen.action, chosen.step, chosen.set_aside) == (resume.RESUME, 4, ("checkpoints/checkpoint-6",))
    assert (run / "checkpoints" / "incomplete-checkpoint-6").is_dir()
    (run / "checkpoints" / "checkpoint-6").mkdir()  # cut short a second time
    assert resume.plan(cfg, run).set_aside == ("checkpoints/checkpoint-6",)
    assert (run / "checkpoints" / "incomplete2-checkpoint-6").is_dir()


def test_history_counts_resumes_restarts_kills_failures_and_skips(tmp_path: Path) -> None:
    events = [
        {"event": "start", "action": "start", "wandb_run_id": "a"},  # killed before any checkpoint
        {"event": "start", "action": "start", "wandb_run_id": "a"},  # restarted, killed after step 2
        {"event": "start", "action": "resume", "step": 2, "wandb_run_id": "a"},
        {"event": "end", "status": "failed", "error": "RuntimeError('x')"},
        {"event": "start", "action": "resume", "step": 4, "wandb_run_id": "a"},
        {"event": "end", "status": "finished"},
        {"event": "start", "action": "skip"},
    ]
    (tmp_path / resume.ATTEMPTS_FILE).write_text("".join(json.dumps(e) + "\n" for e in events) + '{"cut')
    (tmp_path / "metrics.json").write_text("{}")
    history = resume.read_history(tmp_path)
    assert (history.runs, history.resumed_from, history.restarts) == (4, [2, 4], 1)
    assert (history.interrupted, history.failures, history.skipped) == (2, ["RuntimeError('x')"], 1)
    assert history.wandb_run_ids == ["a"]
    assert history.describe().startswith("resumed 2x (from step 2, 4); restarted 1x")


def _fake_job(sweep: Path, name: str, cfg, finished: bool) -> Path:
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    OmegaConf.save(cfg, job / "config.yaml", resolve=True)
    (job / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    (job / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    if finished:
        (job / "metrics.json").write_text('{"test/span/triplet/f1": 0.5}')
        (job / "predictions.jsonl").write_text(json.dumps(PREDICTION, ensure_ascii=False) + "\n", encoding="utf-8")
    return job


PREDICTION = {  # a test document's record: its text is the corpus's, which a kept folder must not hold
    "id": "d1",
    "text": "他听说明天下雨，很高兴。",
    "triplets": [{"emotion": "高兴", "cause": "明天下雨", "category": "happiness"}],
    "gold": [
        {"emotion": "高兴", "cause": "明天下雨", "category": "happiness"},
        {"emotion": "高兴", "cause": "听说", "category": "happiness"},
    ],
}


def test_archive_keeps_finished_jobs_without_weights_and_refuses_another_configs_job(
    tmp_path: Path, compose_config
) -> None:
    sweep, kept = tmp_path / "sweep", tmp_path / "kept"
    cfg = compose_config("+experiment=smoke")
    _fake_job(sweep, "0_seed=1", cfg, finished=True)
    _fake_job(sweep, "1_seed=2", cfg, finished=False)
    copied = archive(sweep, kept)
    assert (copied.copied, copied.unfinished) == (["0_seed=1"], ["1_seed=2"])
    files = sorted(str(p.relative_to(kept)) for p in kept.rglob("*") if p.is_file())
    assert files == [
        "0_seed=1/.hydra/overrides.yaml",
        "0_seed=1/config.yaml",
        "0_seed=1/document_counts.jsonl",
        "0_seed=1/metrics.json",
    ]
    assert not any(PREDICTION["text"][:6] in p.read_text(encoding="utf-8") for p in kept.rglob("*") if p.is_file())
    for unit, expected in (("triplet", (1, 1, 2)), ("emotion", (1, 1, 1)), ("cause", (1, 1, 2))):
        assert read_run_counts(kept / "0_seed=1", unit).counts == {"d1": expected}
        assert read_run_counts(kept / "0_seed=1", unit).counts == read_run_counts(sweep / "0_seed=1", unit).counts
    counts_file = kept / "0_seed=1" / "document_counts.jsonl"
    counts_file.write_text(counts_file.read_text() + '{"id": "d2", "triplet": [1, 2]}\n')
    with pytest.raises(ValueError, match=r"document_counts.jsonl, line 2: expected an id and 'triplet'"):
        read_run_counts(kept / "0_seed=1")
    counts_file.write_text(counts_file.read_text().splitlines()[0] + '\n{"id": "d2", "triplet"\n')
    with pytest.raises(ValueError, match=r"document_counts.jsonl, line 2: not JSON"):
        read_run_counts(kept / "0_seed=1")
    counts_file.write_text(counts_file.read_text().splitlines()[0] + "\n")
    assert resume.plan(cfg, kept / "0_seed=1").action == resume.SKIP
    assert archive(sweep, kept).already_there == ["0_seed=1"]

    other = tmp_path / "other"
    _fake_job(other, "0_seed=1", compose_config("+experiment=smoke", "trainer.max_steps=3"), finished=True)
    with pytest.raises(ArchiveConflict, match=r"0_seed=1.*trainer\.max_steps: 2 -> 3"):
        archive(other, kept)
    assert archive_main([str(tmp_path / "absent"), str(kept)]) == 1
