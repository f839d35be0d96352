"""A finished run's per-document span-level counts, recomputed from its ``predictions.jsonl``.

``metrics.json`` holds only corpus totals; a paired test over documents needs each document's counts. They are
recomputed with the metrics' own matcher (``ecct.metrics.document_counts``) from the records every run writes
(``ecct.output.records.prediction_record``: ``id``, ``text``, ``triplets``, ``gold``). Records carry no language,
so it is read from the text as ``ecct.predict`` reads it (CJK ideographs: ``zh``); ``check_totals`` compares the
sums with ``metrics.json`` so a disagreement is reported rather than silently tested.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.inference.inputs import guess_language
from ecct.metrics import document_counts

PREDICTIONS_FILE = "predictions.jsonl"


@dataclass(frozen=True)
class RunCounts:
    counts: dict[str, tuple[int, int, int]]  # document id -> (tp, n_pred, n_gold)
    agrees: bool | None  # sums equal metrics.json's test/span/<unit>/tp, fp, fn (None: nothing to compare)


def _triplets(items: Any) -> list[tuple[str, str, str]]:
    return [(str(t["emotion"]), str(t["cause"]), str(t["category"])) for t in items or []]


def read_run_counts(run_dir: Path, unit: str = "triplet") -> RunCounts | None:
    """Per-document counts of ``run_dir``'s test predictions; None when it has no ``predictions.jsonl``."""
    path = run_dir / PREDICTIONS_FILE
    if not path.is_file():
        return None
    counts: dict[str, tuple[int, int, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict) or "id" not in record or "gold" not in record:
            continue  # a header or skipped record: no prediction to count
        language = record.get("language") or guess_language(str(record.get("text", "")))
        counts[str(record["id"])] = document_counts(
            _triplets(record["gold"]), _triplets(record.get("triplets")), language, unit
        )
    return RunCounts(counts, check_totals(run_dir, counts, unit))


def check_totals(run_dir: Path, counts: dict[str, tuple[int, int, int]], unit: str) -> bool | None:
    metrics_file = run_dir / "metrics.json"
    if not metrics_file.is_file():
        return None
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    keys = [f"test/span/{unit}/{k}" for k in ("tp", "fp", "fn")]
    if not all(k in metrics for k in keys):
        return None
    tp = sum(c[0] for c in counts.values())
    fp = sum(c[1] for c in counts.values()) - tp
    fn = sum(c[2] for c in counts.values()) - tp
    return [tp, fp, fn] == [metrics[k] for k in keys]
