"""``python -m ecct.report <multirun dir>``: a sweep's jobs -> one table (mean ± std over seeds/folds) + PNG plots.

Each job directory holds ``.hydra/overrides.yaml`` (its command-line overrides) and, when it finished,
``metrics.json``. Overrides that vary across jobs are the sweep's factors; seeds and folds are replicates,
averaged over. A job without ``metrics.json`` is listed as failed; a job the sweep asked for (``multirun.yaml``)
that has no directory is listed as missing. Writes ``report.md``, ``report.csv`` and ``f1_by_<factor>.png``.

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
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ecct.metrics import aggregate, format_mean_std

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


@dataclass
class SweepResult:
    factors: list[str]
    rows: list[dict[str, Any]]  # one per factor-level combination
    failed: list[Job] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)
    baselines: list[dict[str, Any]] = field(default_factory=list)  # {"label", "n", "failed", "stats"} per method

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


def read_jobs(sweep_dir: Path) -> list[Job]:
    jobs = []
    for overrides_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        if job_dir == sweep_dir:
            continue
        overrides = dict(_split_override(item) for item in yaml.safe_load(overrides_file.read_text()) or [])
        metrics_file = job_dir / "metrics.json"
        metrics = json.loads(metrics_file.read_text()) if metrics_file.exists() else None
        jobs.append(Job(job_dir, overrides, metrics))
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


def summarize(sweep_dir: Path, baseline: Sequence[Path] = ()) -> SweepResult:
    jobs = read_jobs(sweep_dir)
    if not jobs:
        raise FileNotFoundError(f"{sweep_dir}: no job directories (no */.hydra/overrides.yaml) found")
    factors = sweep_factors(jobs)
    groups: dict[tuple[str, ...], list[Job]] = defaultdict(list)
    for job in jobs:
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
        for want in expected_jobs(sweep_dir)
        if not any(all(have.get(k) == v for k, v in want.items()) for have in seen)
    ]
    failed = [job for job in jobs if job.metrics is None]
    references: list[dict[str, Any]] = []
    if baseline:
        references, baseline_failed = read_baseline(baseline)
        failed += baseline_failed
    return SweepResult(factors, rows, failed, missing, references)


def _cell(stats: dict[str, dict[str, float]], key: str) -> str:
    if key not in stats:
        return "–"
    return format_mean_std(stats[key]["mean"], stats[key]["std"])


def to_markdown(result: SweepResult, title: str) -> str:
    header = [*result.factors, "runs", *(label for _, label in HEADLINE)]
    lines = [f"# {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in result.rows:
        cells = [row["levels"][f] for f in result.factors] + [str(row["n"])]
        cells += [_cell(row["stats"], key) for key, _ in HEADLINE]
        lines.append("| " + " | ".join(cells) + " |")
    for reference in result.baselines:
        cells = [reference["label"], *("–" for _ in result.factors[1:]), str(reference["n"])]
        cells += [_cell(reference["stats"], key) for key, _ in HEADLINE]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Mean ± sample std over seeds/folds (runs = finished jobs per row)."]
    tested = {
        row.get("label") or "/".join(row["levels"].values()) or "sweep": row["stats"]["test/n_documents"]["mean"]
        for row in [*result.rows, *result.baselines]
        if "test/n_documents" in row["stats"]
    }
    if len(set(tested.values())) > 1:  # e.g. a sweep capped with eval.max_test_documents against a full baseline
        counts = ", ".join(f"{label} {count:g}" for label, count in sorted(tested.items()))
        lines += ["", f"**Not comparable as is:** the rows were tested on different numbers of documents ({counts})."]
    if result.failed:
        lines += ["", f"**Failed jobs ({len(result.failed)})** — no metrics.json:"]
        lines += [f"- `{job.path}`: {' '.join(f'{k}={v}' for k, v in job.overrides.items())}" for job in result.failed]
    if result.missing:
        lines += ["", f"**Missing jobs ({len(result.missing)})** — asked for, never started:"]
        lines += [f"- {' '.join(f'{k}={v}' for k, v in want.items())}" for want in result.missing]
    return "\n".join(lines) + "\n"


def write_csv(result: SweepResult, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [*result.factors, "runs", "failed", *(f"{k}_{s}" for k, _ in HEADLINE for s in ("mean", "std"))]
        )
        rows = list(result.rows)
        for reference in result.baselines:
            levels = {f: (reference["label"] if i == 0 else "") for i, f in enumerate(result.factors)}
            rows.append({**reference, "levels": levels})
        for row in rows:
            values = [row["stats"].get(k, {}) for k, _ in HEADLINE]
            writer.writerow(
                [
                    *(row["levels"][f] for f in result.factors),
                    row["n"],
                    row["failed"],
                    *(v.get(s, "") for v in values for s in ("mean", "std")),
                ]
            )


def _level_order(values: list[str]) -> list[str]:
    try:
        return sorted(values, key=float)
    except ValueError:
        return sorted(values)


def plot_factor(result: SweepResult, factor: str, path: Path) -> None:
    """F1 per level of one factor (other factors averaged per level), with ± std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = _level_order(sorted({row["levels"][factor] for row in result.rows}))
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
    sweep_dir: Path, out_dir: Path | None = None, baseline: Sequence[Path] = ()
) -> tuple[SweepResult, list[Path]]:
    result = summarize(sweep_dir, baseline)
    out_dir = out_dir or sweep_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = to_markdown(result, f"Sweep report: {sweep_dir.name}")
    (out_dir / "report.md").write_text(markdown, encoding="utf-8")
    write_csv(result, out_dir / "report.csv")
    written = [out_dir / "report.md", out_dir / "report.csv"]
    for factor in result.factors:
        png = out_dir / f"f1_by_{factor.replace('/', '_').replace('.', '_')}.png"
        plot_factor(result, factor, png)
        written.append(png)
    return result, written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecct.report", description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="a Hydra multirun directory (multirun/<name>/<date>)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the report (default: sweep_dir)")
    parser.add_argument(
        "--baseline",
        type=Path,
        action="append",
        default=[],
        help="a python -m ecct.baseline run or multirun directory to show alongside (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        result, written = write_report(args.sweep_dir, args.out, args.baseline)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print((written[0]).read_text(encoding="utf-8"))
    print("wrote " + ", ".join(str(p) for p in written))
    return 1 if result.failed or result.missing else 0


if __name__ == "__main__":
    sys.exit(main())
