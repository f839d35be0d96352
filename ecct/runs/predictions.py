"""A finished run's per-document span-level counts, recomputed from its ``predictions.jsonl``.

``metrics.json`` holds only corpus totals; a paired test over documents needs each document's counts. They are
recomputed with the metrics' own matcher (``ecct.metrics.document_counts``) from the records every run writes
(``ecct.output.records.prediction_record``: ``id``, ``text``, ``triplets``, ``gold``). Records carry no language,
so it is read from the text as ``ecct.predict`` reads it (CJK ideographs: ``zh``); ``check_totals`` compares the
sums with ``metrics.json`` so a disagreement is reported rather than silently tested.

A kept run (``ecct.runs.archive``, committed) holds ``document_counts.jsonl`` instead: the same counts for every
unit, one line per document (``{"id": ..., "triplet": [tp, n_pred, n_gold], ...}``), without the documents' text,
which belongs to research-only corpora. ``read_run_counts`` reads whichever of the two a run has.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.inference.inputs import guess_language
from ecct.jsonl import write_jsonl
from ecct.metrics import UNITS, document_counts

PREDICTIONS_FILE = "predictions.jsonl"
COUNTS_FILE = "document_counts.jsonl"


@dataclass(frozen=True)
class RunCounts:
    counts: dict[str, tuple[int, int, int]]  # document id -> (tp, n_pred, n_gold)
    agrees: bool | None  # sums equal metrics.json's test/span/<unit>/tp, fp, fn (None: nothing to compare)


def _triplets(items: Any) -> list[tuple[str, str, str]]:
    return [(str(t["emotion"]), str(t["cause"]), str(t["category"])) for t in items or []]


def count_predictions(path: Path, units: tuple[str, ...] = UNITS) -> dict[str, dict[str, tuple[int, int, int]]]:
    """Per-document ``(tp, n_pred, n_gold)`` of each unit, from a ``predictions.jsonl`` file."""
    counts: dict[str, dict[str, tuple[int, int, int]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict) or "id" not in record or "gold" not in record:
            continue  # a header or skipped record: no prediction to count
        language = record.get("language") or guess_language(str(record.get("text", "")))
        gold, predicted = _triplets(record["gold"]), _triplets(record.get("triplets"))
        counts[str(record["id"])] = {unit: document_counts(gold, predicted, language, unit) for unit in units}
    return counts


def write_document_counts(predictions: Path, target: Path) -> int:
    """Write ``predictions``' per-document counts (every unit, no text) to ``target``; returns the documents."""
    counts = count_predictions(predictions)
    write_jsonl(({"id": doc_id, **{u: list(c) for u, c in units.items()}} for doc_id, units in counts.items()), target)
    return len(counts)


def _read_counts_file(path: Path, unit: str) -> dict[str, tuple[int, int, int]]:
    counts: dict[str, tuple[int, int, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error.msg})") from error
        values = record.get(unit) if isinstance(record, dict) else None
        valid = isinstance(values, list) and len(values) == 3 and all(isinstance(v, int) for v in values)
        if not valid or "id" not in record:
            raise ValueError(f"{path}, line {number}: expected an id and {unit!r}: [tp, n_pred, n_gold]")
        counts[str(record["id"])] = (values[0], values[1], values[2])
    return counts


def read_run_counts(run_dir: Path, unit: str = "triplet") -> RunCounts | None:
    """Per-document counts of ``run_dir``'s test predictions (or kept counts); None when it has neither file."""
    if (run_dir / PREDICTIONS_FILE).is_file():
        counts = {
            doc_id: units[unit] for doc_id, units in count_predictions(run_dir / PREDICTIONS_FILE, (unit,)).items()
        }
    elif (run_dir / COUNTS_FILE).is_file():
        counts = _read_counts_file(run_dir / COUNTS_FILE, unit)
    else:
        return None
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
