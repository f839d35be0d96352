"""Aggregation of metric dicts over folds or seeds: mean, sample standard deviation, count."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def aggregate(runs: Sequence[Mapping[str, object]]) -> dict[str, dict[str, float | int]]:
    """``{metric: {"mean", "std", "n"}}`` over the runs that report the metric.

    ``std`` is the sample standard deviation (n - 1 in the denominator), 0.0 when n = 1.
    Non-numeric values (and booleans) are left out; keys keep the order of their first appearance.
    """
    values: dict[str, list[float]] = {}
    for run in runs:
        for key, value in run.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            values.setdefault(key, []).append(float(value))
    result: dict[str, dict[str, float | int]] = {}
    for key, xs in values.items():
        n = len(xs)
        mean = math.fsum(xs) / n
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
        result[key] = {"mean": mean, "std": std, "n": n}
    return result


def format_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``0.512 ± 0.013``."""
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
