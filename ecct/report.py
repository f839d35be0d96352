"""``python -m ecct.report <multirun dir>...``: a sweep's jobs -> one table (mean ± std over seeds/folds) + PNG plots.

Each job directory holds ``.hydra/overrides.yaml`` (its command-line overrides) and, when it finished,
``metrics.json``. Overrides that vary across jobs are the sweep's factors; seeds and folds are replicates,
averaged over. A job without ``metrics.json`` is listed as failed; a job the sweep asked for (``multirun.yaml``)
that has no directory is listed as missing; a job whose last start was refused (its folder holds another config's
run, ``ecct.runs.resume``) is listed as refused and left out of the table. Each job's history (``attempts.jsonl``:
resumed from which steps, restarted, killed, skipped as finished by a re-run of the sweep) is listed under "Jobs".
Writes ``report.md``, ``report.csv``, ``jobs.csv`` and ``f1_by_<factor>.png``.

Several multirun directories make one report: a sweep split into commands that run side by side (one per seed on
a machine whose jobs run fastest one thread each), each command finishing in its own ``hydra.sweep.dir``.

Against the reference level (``ecct.runs.significance``): each level's test triplet F1 (span level) minus the
reference level's (``prompt=full``, ``augment.ratio=0``, ...; ``--reference FACTOR=LEVEL``), per seed and pooled,
with a paired bootstrap interval over test documents (``ecct.metrics.bootstrap``; ``--bootstrap-resamples``,
``--bootstrap-seed``; 0 resamples: no comparison). ``report.md`` states the method above the tables.

``--baseline DIR`` (repeatable) puts reference runs alongside the sweep: a run directory or a multirun directory
of ``python -m ecct.baseline`` becomes one extra row per method (mean ± std over its runs: "BERT baseline" for
the pipeline, "Rule-based floor" for ``method=rules``) and a dashed line in every plot. Baseline directories
without ``metrics.json`` are listed as failed too.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import shlex
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ecct.metrics import aggregate, format_mean_std
from ecct.runs import resume
from ecct.runs.significance import DEFAULT_REFERENCES, Comparison, RunRef, compare, level_order

log = logging.getLogger(__name__)

# Overrides that repeat a configuration rather than change it: averaged over, never a factor.
REPLICATE_KEYS = ("seed", "data_seed", "data.split.index", "data.split.fold")
# Not factors either: bookkeeping that differs per job or is the same everywhere by construction.
IGNORED_KEYS = ("hydra.run.dir", "hydra.sweep.dir", "sweep_name", "run_name", "logger", "logger.mode")
HEADLINE = (
    ("test/span/triplet/f1", "triplet F1"),
    ("test/word/triplet/f1", "triplet F1 (word)"),
    ("test/span/pair/f1", "pair F1"),
    ("test/span/emotion_category/f1", "emotion+cat F1"),
    ("test/span/emotion/f1", "emotion F1"),
    ("test/span/cause/f1", "cause F1"),
    ("test/word/cause/f1", "cause F1 (word)"),
)


@dataclass
class Job:
    path: Path
    overrides: dict[str, str]
    metrics: dict[str, Any] | None
    history: resume.History = field(default_factory=resume.History)

    @property
    def status(self) -> str:
        """finished | failed (no metrics.json) | refused (its folder holds another config's run)."""
        if self.history.last_action == resume.REFUSE:
            return "refused"
        return "failed" if self.metrics is None else "finished"

    @property
    def replicate(self) -> str:
        return " ".join(f"{k}={self.overrides[k]}" for k in REPLICATE_KEYS if k in self.overrides) or "run"


@dataclass
class SweepResult:
    factors: list[str]
    rows: list[dict[str, Any]]  # one per factor-level combination
    failed: list[Job] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)  # {"label", "n", "failed", "stats"} per method
    jobs: list[Job] = field(default_factory=list)
    refused: list[Job] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)  # factor -> its reference level
    n_resamples: int = 0
    bootstrap_seed: int = 0

    @property
    def baseline(self) -> dict[str, Any] | None:
        """The first reference row (the only one when all reference runs are of one method)."""
        return self.baselines[0] if self.baselines else None


BASELINE_LABEL = "BERT baseline"
# A baseline run's metrics.json "method" -> its row label; runs without one are the BERT pipeline's.
BASELINE_LABELS = {"bert": BASELINE_LABEL, "rules": "Rule-based floor"}


def baseline_label(metrics: dict[str, Any]) -> str:
    method = str(metrics.get("method", "bert"))
    return BASELINE_LABELS.get(method, f"baseline ({method})")


def _split_override(item: str) -> tuple[str, str]:
    key, _, value = item.partition("=")
    return key.lstrip("+~"), value


def same_value(asked: str, recorded: str) -> bool:
    """Whether a command-line value and a job's recorded one are the same: Hydra's basic sweeper writes a job's
    overrides back in its own spelling (``disable_tqdm=true`` is recorded as ``True``)."""
    if asked == recorded:
        return True
    try:
        return yaml.safe_load(asked) == yaml.safe_load(recorded)
    except yaml.YAMLError:
        return False


def read_jobs(sweep_dir: Path) -> list[Job]:
    jobs = []
    for overrides_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        if job_dir == sweep_dir:
            continue
        overrides = dict(_split_override(item) for item in yaml.safe_load(overrides_file.read_text()) or [])
        metrics_file = job_dir / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else None
        jobs.append(Job(job_dir, overrides, metrics, resume.read_history(job_dir)))
    return jobs


def expected_jobs(sweep_dir: Path) -> list[dict[str, str]]:
    """The cartesian product the sweep asked for (command-line axes + ``hydra.sweeper.params``) from multirun.yaml."""
    multirun = sweep_dir / "multirun.yaml"
    if not multirun.exists():
        return []
    hydra_cfg = yaml.safe_load(multirun.read_text()).get("hydra", {})
    items = [_split_override(item) for item in (hydra_cfg.get("overrides", {}) or {}).get("task") or []]
    items += [(key, str(value)) for key, value in ((hydra_cfg.get("sweeper") or {}).get("params") or {}).items()]
    axes = []
    for key, value in items:
        values = value.split(",") if "," in value and not value.startswith(("[", "{")) else [value]
        axes.append([(key, v) for v in values])
    return [dict(combo) for combo in itertools.product(*axes)]


def sweep_factors(jobs: Sequence[Job]) -> list[str]:
    keys = sorted({k for job in jobs for k in job.overrides})
    varying = [k for k in keys if len({job.overrides.get(k) for job in jobs}) > 1]
    return [k for k in varying if k not in REPLICATE_KEYS and k not in IGNORED_KEYS]


def _aggregate(metrics: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return aggregate([{k: v for k, v in m.items() if isinstance(v, int | float)} for m in metrics])


def read_baseline(paths: Sequence[Path]) -> tuple[list[dict[str, Any]], list[Job]]:
    """Reference runs: each path is one run directory (with metrics.json) or a multirun directory of them; one row
    per method (``baseline_label``), in the order the methods first appear. A failed run counts in the first row."""
    finished: list[dict[str, Any]] = []
    failed: list[Job] = []
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"--baseline {path}: no such directory")
        runs = [path] if (path / "config.yaml").exists() or (path / "metrics.json").exists() else []
        runs = runs or sorted(p.parent.parent for p in path.glob("*/.hydra/overrides.yaml"))
        if not runs:
            raise FileNotFoundError(f"--baseline {path}: neither a run directory nor a multirun directory of runs")
        for run in runs:
            metrics_file = run / "metrics.json"
            if metrics_file.exists():
                finished.append(json.loads(metrics_file.read_text(encoding="utf-8")))
            else:
                failed.append(Job(run, {"baseline": str(path)}, None))
    by_label: dict[str, list[dict[str, Any]]] = {}
    for metrics in finished:
        by_label.setdefault(baseline_label(metrics), []).append(metrics)
    rows = [
        {"label": label, "n": len(runs), "failed": 0, "stats": _aggregate(runs)} for label, runs in by_label.items()
    ]
    if not rows:
        rows = [{"label": BASELINE_LABEL, "n": 0, "failed": 0, "stats": {}}]
    rows[0]["failed"] = len(failed)
    return rows, failed


def summarize(
    sweep_dir: Path | Sequence[Path],
    baseline: Sequence[Path] = (),
    references: dict[str, str] | None = None,
    n_resamples: int = 1000,
    bootstrap_seed: int = 0,
) -> SweepResult:
    """The sweep's table, job list and (``n_resamples`` > 0) each level against its factor's reference level.

    ``sweep_dir``: one multirun directory, or several whose jobs are pooled (each one's missing jobs are its own).
    """
    sweep_dirs = [sweep_dir] if isinstance(sweep_dir, Path) else list(sweep_dir)
    jobs = []
    for directory in sweep_dirs:
        found = read_jobs(directory)
        if not found:
            raise FileNotFoundError(f"{directory}: no job directories (no */.hydra/overrides.yaml) found")
        jobs += found
    factors = sweep_factors(jobs)
    groups: dict[tuple[str, ...], list[Job]] = defaultdict(list)
    for job in jobs:
        if job.status != "refused":
            groups[tuple(job.overrides.get(f, "") for f in factors)].append(job)
    rows = []
    for levels, members in sorted(groups.items()):
        finished = [job.metrics for job in members if job.metrics is not None]
        stats = _aggregate(finished)
        rows.append(
            {
                "levels": dict(zip(factors, levels, strict=True)),
                "n": len(finished),
                "failed": len(members) - len(finished),
                "stats": stats,
            }
        )
    seen = [job.overrides for job in jobs]
    missing = [
        want
        for directory in sweep_dirs
        for want in expected_jobs(directory)
        if not any(all(k in have and same_value(v, have[k]) for k, v in want.items()) for have in seen)
    ]
    failed = [job for job in jobs if job.status == "failed"]
    refused = [job for job in jobs if job.status == "refused"]
    baseline_rows: list[dict[str, Any]] = []
    if baseline:
        baseline_rows, baseline_failed = read_baseline(baseline)
        failed += baseline_failed
    result = SweepResult(factors, rows, failed, missing, baseline_rows, jobs, refused)
    if n_resamples > 0 and factors:
        runs = [
            RunRef({f: job.overrides.get(f, "") for f in factors}, job.replicate, job.path)
            for job in jobs
            if job.status == "finished"
        ]
        result.comparisons = compare(runs, factors, references, n_resamples, bootstrap_seed)
        result.references = {c.factor: c.reference for c in result.comparisons}
        result.n_resamples, result.bootstrap_seed = n_resamples, bootstrap_seed
    return result


def _cell(stats: dict[str, dict[str, float]], key: str) -> str:
    if key not in stats:
        return "–"
    if stats[key]["n"] == 1:  # one run has no spread: "± 0.000" would claim one
        return f"{stats[key]['mean']:.3f}"
    return format_mean_std(stats[key]["mean"], stats[key]["std"])


def method_note(result: SweepResult) -> str:
    """How the reference comparison is computed, with this report's settings (the report's header says it)."""
    references = ", ".join(f"{f}={level}" for f, level in result.references.items())
    return (
        f"Against the reference level ({references}): ΔF1 is the test triplet F1 (span level) of a level minus "
        "that of the reference level, with the other factors' levels equal, on each replicate (seed or fold) both "
        "have; *mean over seeds* is the mean of these per-replicate differences, *per-seed spread* their sample std "
        "and range. The interval is a paired bootstrap over test documents: each run's per-document counts (true "
        "positives, predicted and gold triplets) are recomputed from its `predictions.jsonl` with ecct's span "
        "matcher (a kept job's `document_counts.jsonl` holds them); a resample draws documents with replacement, "
        "the same documents for both levels, and a drawn "
        "document brings its counts from every paired replicate (seeds are pooled by document, not treated as "
        "independent draws); each resample's F1 is the micro F1 of the pooled counts. "
        f"{result.n_resamples} resamples, numpy `default_rng({result.bootstrap_seed})`; the interval is the 2.5th to "
        "97.5th percentile of the resampled differences, and *excludes 0* marks one that does. *Pooled ΔF1* is the "
        "same micro-F1 difference on the observed documents."
    )


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def comparison_lines(result: SweepResult) -> list[str]:
    header = [
        "factor",
        "level",
        "vs",
        "paired runs",
        "documents",
        "ΔF1 (mean over seeds)",
        "per-seed spread: std (min … max)",
        "pooled ΔF1 [95% CI]",
        "CI excludes 0",
    ]
    lines = ["## Triplet F1 against the reference level", "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "---|" * len(header))
    notes = []
    for c in result.comparisons:
        level = c.level + (f" ({', '.join(f'{k}={v}' for k, v in c.context.items())})" if c.context else "")
        diffs = list(c.per_replicate.values())
        spread = "–"
        if diffs:
            spread = f"{_signed(c.replicate_std).lstrip('+')} ({min(diffs):+.3f} … {max(diffs):+.3f})"
        boot = c.bootstrap
        interval = "–" if boot is None else f"{boot.difference:+.3f} [{boot.low:+.3f}, {boot.high:+.3f}]"
        mark = "–" if boot is None else ("**yes**" if boot.excludes_zero else "no")
        documents = "–" if boot is None else str(boot.n_documents)
        cells = [c.factor, level, c.reference, str(len(diffs)), documents, _signed(c.mean_difference), spread]
        lines.append("| " + " | ".join([*cells, interval, mark]) + " |")
        if c.runs_without_predictions:
            notes.append(
                f"{c.factor}={c.level}: {c.runs_without_predictions} run(s) without predictions.jsonl"
                " or document_counts.jsonl"
            )
        if c.runs_disagreeing:
            notes.append(f"{c.factor}={c.level}: {c.runs_disagreeing} run(s) whose recount differs from metrics.json")
        if boot is not None and boot.unpaired_documents:
            notes.append(f"{c.factor}={c.level}: {boot.unpaired_documents} unpaired (document, run) count(s) left out")
    if notes:
        lines += ["", "Left out or to check: " + "; ".join(notes) + "."]
    return lines


def job_lines(result: SweepResult) -> list[str]:
    finished = [job for job in result.jobs if job.status == "finished"]
    resumed = sum(bool(job.history.resumed_from) for job in finished)
    skips = sum(job.history.skipped for job in result.jobs)
    lines = [
        "## Jobs",
        "",
        f"{len(finished)} finished ({resumed} of them resumed), {len(result.failed)} failed, "
        f"{len(result.refused)} refused, {len(result.missing)} missing; re-runs of the sweep skipped finished jobs "
        f"{skips} time(s).",
        "",
        "| job | status | history |",
        "|---|---|---|",
    ]
    for job in result.jobs:
        history = job.history.describe()
        if job.status == "failed":
            latest = resume.latest_checkpoint(job.path)
            history = "; ".join(x for x in (history, f"last checkpoint: step {latest[1]}" if latest else "") if x)
        if job.status == "refused":
            history = "; ".join(x for x in (history, "config changed: " + "; ".join(job.history.differences)) if x)
        lines.append(f"| `{job.path.name}` | {job.status} | {history or '–'} |")
    return lines


SWEEP_ROW = "sweep"  # the sweep's row label when it has no factor (one level so far) beside baseline rows


def label_columns(result: SweepResult) -> list[str]:
    """The first columns of the tables: the factors, or "run" for a factorless sweep, so baseline rows have a label."""
    return list(result.factors) if result.factors or not result.baselines else ["run"]


def to_markdown(result: SweepResult, title: str, command: str | None = None) -> str:
    columns = label_columns(result)
    header = [*columns, "runs", *(label for _, label in HEADLINE)]
    lines = [f"# {title}", ""]
    if command:  # a committed report says how to make it again
        lines += [f"Made by `{command}`.", ""]
    if result.comparisons:
        lines += ["**Method.** " + method_note(result), ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in result.rows:
        cells = [row["levels"].get(f, SWEEP_ROW) for f in columns] + [str(row["n"])]
        cells += [_cell(row["stats"], key) for key, _ in HEADLINE]
        lines.append("| " + " | ".join(cells) + " |")
    for reference in result.baselines:
        cells = [reference["label"], *("–" for _ in columns[1:]), str(reference["n"])]
        cells += [_cell(reference["stats"], key) for key, _ in HEADLINE]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean ± sample std over seeds/folds (runs = finished jobs per row; one run's value stands alone)."]
    tested = {
        row.get("label") or "/".join(row["levels"].values()) or "sweep": row["stats"]["test/n_documents"]["mean"]
        for row in [*result.rows, *result.baselines]
        if "test/n_documents" in row["stats"]
    }
    if len(set(tested.values())) > 1:  # e.g. a sweep capped with eval.max_test_documents against a full baseline
        counts = ", ".join(f"{label} {count:g}" for label, count in sorted(tested.items()))
        lines += ["", f"**Not comparable as is:** the rows were tested on different numbers of documents ({counts})."]
    if result.comparisons:
        lines += ["", *comparison_lines(result)]
    if result.failed:
        lines += ["", f"**Failed jobs ({len(result.failed)})** — no metrics.json:"]
        lines += [f"- `{job.path}`: {' '.join(f'{k}={v}' for k, v in job.overrides.items())}" for job in result.failed]
    if result.refused:
        lines += ["", f"**Refused jobs ({len(result.refused)})** — the folder holds a run of another config:"]
        lines += [f"- `{job.path}`: {'; '.join(job.history.differences)}" for job in result.refused]
    if result.missing:
        lines += ["", f"**Missing jobs ({len(result.missing)})** — asked for, never started:"]
        lines += [f"- {' '.join(f'{k}={v}' for k, v in want.items())}" for want in result.missing]
    if result.jobs:
        lines += ["", *job_lines(result)]
    return "\n".join(lines) + "\n"


DELTA_COLUMNS = (
    "reference",
    "delta_triplet_f1_mean",
    "delta_triplet_f1_seed_std",
    "delta_triplet_f1_pooled",
    "delta_triplet_f1_ci_low",
    "delta_triplet_f1_ci_high",
    "delta_ci_excludes_0",
)


def _delta_cells(result: SweepResult, factor: str, levels: dict[str, str]) -> list[Any]:
    """One row's comparison with its factor's reference level (blank for the reference itself and baselines)."""
    if factor not in result.references or levels.get(factor) is None:
        return [""] * len(DELTA_COLUMNS)
    for c in result.comparisons:
        if c.factor == factor and {**c.context, factor: c.level} == levels:
            boot = c.bootstrap
            values = [c.mean_difference, c.replicate_std]
            values += [None] * 4 if boot is None else [boot.difference, boot.low, boot.high, boot.excludes_zero]
            return [c.reference, *("" if v is None else v for v in values)]
    return [result.references[factor], *[""] * (len(DELTA_COLUMNS) - 1)]


def write_csv(result: SweepResult, path: Path) -> None:
    # One sweep factor: plain column names; several: each factor's comparison columns prefixed "factor:".
    compared = [f for f in result.factors if f in result.references]
    prefixes = {f: "" if len(compared) == 1 else f"{f}:" for f in compared}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        columns = label_columns(result)
        writer.writerow(
            [
                *columns,
                "runs",
                "failed",
                *(f"{k}_{s}" for k, _ in HEADLINE for s in ("mean", "std")),
                *(prefixes[f] + column for f in compared for column in DELTA_COLUMNS),
            ]
        )
        rows = list(result.rows)
        for reference in result.baselines:
            levels = {f: (reference["label"] if i == 0 else "") for i, f in enumerate(columns)}
            rows.append({**reference, "levels": levels, "baseline": True})
        for row in rows:
            values = [row["stats"].get(k, {}) for k, _ in HEADLINE]
            deltas = [
                cell
                for f in compared
                for cell in (
                    [""] * len(DELTA_COLUMNS) if row.get("baseline") else _delta_cells(result, f, row["levels"])
                )
            ]
            writer.writerow(
                [
                    *(row["levels"].get(f, SWEEP_ROW) for f in columns),
                    row["n"],
                    row["failed"],
                    *(v.get(s, "") for v in values for s in ("mean", "std")),
                    *deltas,
                ]
            )


JOB_COLUMNS = ("job", "status", "runs", "resumed_from_steps", "restarts", "killed", "failures", "skipped", "wandb_ids")


def write_jobs_csv(result: SweepResult, path: Path) -> None:
    """One line per job directory: status and history (attempts.jsonl), for scripts that requeue what is left."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(JOB_COLUMNS)
        for job in result.jobs:
            h = job.history
            steps = " ".join("?" if s is None else str(s) for s in h.resumed_from)
            row = [job.path.name, job.status, h.runs, steps, h.restarts, h.interrupted, len(h.failures), h.skipped]
            writer.writerow([*row, " ".join(h.wandb_run_ids)])


def plot_factor(result: SweepResult, factor: str, path: Path) -> None:
    """F1 per level of one factor (other factors averaged per level), with ± std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = level_order(sorted({row["levels"][factor] for row in result.rows}))
    numeric = all(_is_number(level) for level in levels)
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    for offset, (key, label) in enumerate(HEADLINE):  # all headline metrics: short runs score only on some
        means, stds = [], []
        for level in levels:
            rows = [r for r in result.rows if r["levels"][factor] == level and key in r["stats"]]
            means.append(sum(r["stats"][key]["mean"] for r in rows) / len(rows) if rows else float("nan"))
            stds.append(max((r["stats"][key]["std"] for r in rows), default=0.0))
        if numeric:
            ax.errorbar([float(v) for v in levels], means, yerr=stds, marker="o", capsize=3, label=label)
        else:
            width = 0.8 / len(HEADLINE)
            xs = [i + (offset - (len(HEADLINE) - 1) / 2) * width for i in range(len(levels))]
            ax.bar(xs, means, width=width, yerr=stds, capsize=3, label=label)
    for reference, style in zip(result.baselines, itertools.cycle(("--", ":", "-."))):
        stats = reference["stats"].get(HEADLINE[0][0])
        if stats is not None:  # each baseline's triplet F1, in the colour of the triplet F1 series
            ax.axhline(stats["mean"], color="C0", linestyle=style, label=f"{reference['label']} ({HEADLINE[0][1]})")
    if not numeric:
        ax.set_xticks(range(len(levels)), levels)
    ax.set_xlabel(factor)
    ax.set_ylabel("test F1")
    ax.set_ylim(bottom=0)
    ax.set_title(f"F1 by {factor}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def write_report(
    sweep_dir: Path | Sequence[Path],
    out_dir: Path | None = None,
    baseline: Sequence[Path] = (),
    references: dict[str, str] | None = None,
    n_resamples: int = 1000,
    bootstrap_seed: int = 0,
    title: str | None = None,
    command: str | None = None,
) -> tuple[SweepResult, list[Path]]:
    sweep_dirs = [sweep_dir] if isinstance(sweep_dir, Path) else list(sweep_dir)
    result = summarize(sweep_dirs, baseline, references, n_resamples, bootstrap_seed)
    out_dir = out_dir or sweep_dirs[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    title = title or f"Sweep report: {' + '.join(d.name for d in sweep_dirs)}"
    markdown = to_markdown(result, title, command)
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    write_csv(result, out_dir / "report.csv")
    write_jobs_csv(result, out_dir / "jobs.csv")
    written = [out_dir / "report.md", out_dir / "report.csv", out_dir / "jobs.csv"]
    for factor in result.factors:
        png = out_dir / f"f1_by_{factor.replace('/', '_').replace('.', '_')}.png"
        plot_factor(result, factor, png)
        written.append(png)
    return result, written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecct.report", description=__doc__.splitlines()[0])
    parser.add_argument(
        "sweep_dir",
        type=Path,
        nargs="+",
        help="a Hydra multirun directory (multirun/<name>/<date>); several are pooled into one report",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the report (default: the first sweep_dir)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        help="a python -m ecct.baseline run or multirun directory to show alongside (repeatable)",
    )
    known = ", ".join(f"{k}={v}" for k, v in DEFAULT_REFERENCES.items())
    parser.add_argument(
        "--reference",
        action="append",
        default=[],
        metavar="FACTOR=LEVEL",
        help=f"the level a factor's other levels are compared with (repeatable; default {known}, else the first)",
    )
    parser.add_argument(
        "--bootstrap-resamples", type=int, default=1000, help="paired bootstrap resamples (0: no comparison)"
    )
    parser.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap's resampling")
    parser.add_argument("--title", default=None, help="the report's heading (default: the sweep folders' names)")
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "ecct.report", *(sys.argv[1:] if argv is None else argv)])
    references = {}
    for item in args.reference:
        factor, sep, level = item.partition("=")
        if not sep or not factor or not level:
            parser.error(f"--reference {item!r}: expected FACTOR=LEVEL, e.g. prompt=full")
        references[factor] = level
    if args.bootstrap_resamples < 0:
        parser.error(f"--bootstrap-resamples {args.bootstrap_resamples}: expected 0 or more")
    try:
        result, written = write_report(
            args.sweep_dir,
            args.out,
            args.baseline,
            references,
            args.bootstrap_resamples,
            args.bootstrap_seed,
            args.title,
            command,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((written[0]).read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in written))
    return 1 if result.failed or result.missing or result.refused else 0


if __name__ == "__main__":
    sys.exit(main())
