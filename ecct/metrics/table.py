"""Plain-text views of a ``compute_metrics`` dict."""

from __future__ import annotations

from collections.abc import Mapping

from ecct.data.model import CATEGORIES
from ecct.metrics.compute import VIOLATION_KINDS
from ecct.metrics.scoring import UNITS
from ecct.metrics.taxonomy import GOLD_BUCKETS, PRED_BUCKETS

_SCORE_COLUMNS = (("precision", "P"), ("recall", "R"), ("f1", "F1"))


def format_table(metrics: Mapping[str, float | int], digits: int = 3) -> str:
    """Rows: the five units; columns: span-level P/R/F1, then word-level P/R/F1."""
    header = ["unit"] + [f"{level} {short}" for level in ("span", "word") for _, short in _SCORE_COLUMNS]
    keys = [(level, name) for level in ("span", "word") for name, _ in _SCORE_COLUMNS]
    rows = [[unit] + [f"{metrics[f'{level}/{unit}/{name}']:.{digits}f}" for level, name in keys] for unit in UNITS]
    return _render([header, *rows])


def format_details(metrics: Mapping[str, float | int], digits: int = 3) -> str:
    """Per-category triplet scores, error buckets, violations and document counts."""
    header = ["category", "P", "R", "F1", "gold", "predicted"]
    rows = [
        [category]
        + [f"{metrics[f'category/{category}/{name}']:.{digits}f}" for name, _ in _SCORE_COLUMNS]
        + [str(metrics[f"category/{category}/support"]), str(metrics[f"category/{category}/predicted"])]
        for category in CATEGORIES
    ]
    lines = [_render([header, *rows]), ""]
    lines.append("predicted triplets: " + _counts(metrics, "errors/pred/", PRED_BUCKETS))
    lines.append("gold triplets:      " + _counts(metrics, "errors/gold/", GOLD_BUCKETS))
    lines.append(
        f"format violations:  {metrics['errors/format_violation']}"
        f" (by kind: {_counts(metrics, 'violations/', (*VIOLATION_KINDS, 'other'))})"
    )
    lines.append(
        f"documents:          {metrics['n_documents']}, missing predictions {metrics['missing_predictions']},"
        f" empty predictions {metrics['empty_predictions']},"
        f" duplicate predicted triplets collapsed {metrics['duplicate_predictions']}"
    )
    if "semeval/strict/w-avg-f1" in metrics:  # ECF gold: the SemEval-2024 Task 3 Subtask 1 ranking scores
        lines.append(
            f"SemEval-2024 T3 S1:  w-avg F1 strict {metrics['semeval/strict/w-avg-f1']:.{digits}f},"
            f" proportional {metrics['semeval/proportional/w-avg-f1']:.{digits}f}"
            f" ({metrics['semeval/unplaced_predictions']} predicted pair(s) in no utterance)"
        )
    return "\n".join(lines)


def _counts(metrics: Mapping[str, float | int], prefix: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"{name} {metrics[prefix + name]}" for name in names)


def _render(table: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
