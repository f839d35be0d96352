"""Each level of a sweep's factor against its reference level: triplet-F1 difference, per-seed spread, bootstrap.

The reference is the level the paper compares against: ``prompt=full`` (instruction ablation), ``augment.ratio=0``
(augmentation), ``peft=lora``; ``ecct.report --reference FACTOR=LEVEL`` picks another, and a factor with no known
reference uses its first level (numeric order when every level is a number). Levels are compared within the same
levels of the other factors, replicate by replicate (seed, fold), on the per-document counts recomputed from each
run's predictions (``ecct.runs.predictions``); the interval is ``ecct.metrics.bootstrap.paired_bootstrap``.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ecct.metrics.bootstrap import PairedBootstrap, micro_f1, paired_bootstrap
from ecct.runs.predictions import RunCounts, read_run_counts

DEFAULT_REFERENCES = {"prompt": "full", "augment.ratio": "0", "augment": "none", "peft": "lora"}


@dataclass(frozen=True)
class RunRef:
    """A finished job: its factor levels, its replicate (``seed=1``, ``seed=1 data.split.index=2``) and folder."""

    levels: Mapping[str, str]
    replicate: str
    path: Path


@dataclass
class Comparison:
    factor: str
    level: str
    reference: str
    context: dict[str, str]  # the other factors' levels, held fixed
    per_replicate: dict[str, float] = field(default_factory=dict)  # F1(level) - F1(reference), per paired replicate
    bootstrap: PairedBootstrap | None = None
    runs_without_predictions: int = 0  # finished runs that wrote no predictions.jsonl (left out)
    runs_disagreeing: int = 0  # runs whose recomputed counts differ from their metrics.json

    @property
    def mean_difference(self) -> float | None:
        return statistics.fmean(self.per_replicate.values()) if self.per_replicate else None

    @property
    def replicate_std(self) -> float | None:
        values = list(self.per_replicate.values())
        return statistics.stdev(values) if len(values) > 1 else None


def is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def level_order(values: Sequence[str]) -> list[str]:
    return sorted(values, key=float) if all(is_number(v) for v in values) else sorted(values)


def same_level(a: str, b: str) -> bool:
    return a == b or (is_number(a) and is_number(b) and math.isclose(float(a), float(b)))


def reference_level(factor: str, levels: Sequence[str], chosen: Mapping[str, str] | None = None) -> str:
    """The level others are compared with: the chosen one, else ``DEFAULT_REFERENCES``, else the first."""
    chosen = chosen or {}
    want = chosen.get(factor, DEFAULT_REFERENCES.get(factor))
    if want is not None:
        for level in levels:
            if same_level(level, want):
                return level
        if factor in chosen:
            raise ValueError(f"--reference {factor}={want}: not a level of the sweep ({', '.join(levels)})")
    return level_order(levels)[0]


def _f1(counts: Mapping[str, tuple[int, int, int]]) -> float:
    totals = [sum(c[i] for c in counts.values()) for i in range(3)]
    return float(micro_f1(*totals))


def compare(
    runs: Sequence[RunRef],
    factors: Sequence[str],
    chosen: Mapping[str, str] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Comparison]:
    """One ``Comparison`` per (factor, non-reference level, levels of the other factors)."""
    counts = {run.path: read_run_counts(run.path) for run in runs}
    comparisons = []
    for factor in factors:
        reference = reference_level(factor, sorted({run.levels[factor] for run in runs}), chosen)
        by_context: dict[tuple[tuple[str, str], ...], dict[str, dict[str, RunRef]]] = defaultdict(dict)
        for run in runs:
            context = tuple((f, run.levels[f]) for f in factors if f != factor)
            by_context[context].setdefault(run.levels[factor], {}).setdefault(run.replicate, run)
        for context, levels in sorted(by_context.items()):
            if reference not in levels:
                continue
            for level in level_order(list(levels)):
                if level == reference:
                    continue
                comparisons.append(
                    _compare_level(factor, level, reference, dict(context), levels, counts, n_resamples, seed)
                )
    return comparisons


def _compare_level(
    factor: str,
    level: str,
    reference: str,
    context: dict[str, str],
    levels: Mapping[str, Mapping[str, RunRef]],
    counts: Mapping[Path, RunCounts | None],
    n_resamples: int,
    seed: int,
) -> Comparison:
    comparison = Comparison(factor, level, reference, context)
    ours: dict[str, dict[str, tuple[int, int, int]]] = {}
    theirs: dict[str, dict[str, tuple[int, int, int]]] = {}
    for side, name in ((ours, level), (theirs, reference)):
        for replicate, run in levels[name].items():
            found = counts[run.path]
            if found is None:
                comparison.runs_without_predictions += 1
                continue
            comparison.runs_disagreeing += found.agrees is False
            side[replicate] = found.counts
    for replicate in sorted(ours.keys() & theirs.keys()):
        comparison.per_replicate[replicate] = _f1(ours[replicate]) - _f1(theirs[replicate])
    if comparison.per_replicate:
        comparison.bootstrap = paired_bootstrap(ours, theirs, n_resamples=n_resamples, seed=seed)
    return comparison
