"""Prediction records: what ``predictions.jsonl`` holds per document, written by inference, read by scoring.

A record (``prediction_record``)::

    {"id", "text", "output", "triplets": [{emotion, cause, category, emotion_span, cause_span}], "violations",
     "gold"}

``load_predictions`` reads such a file, or any JSON Lines file with one ``{"id", "triplets" | "output"}``
object per document (``python -m ecct.score`` documents the accepted shapes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import CATEGORIES, Document
from ecct.data.readers.base import read_text
from ecct.data.readers.jsonl import read_jsonl
from ecct.metrics import Prediction
from ecct.output.formats import TextTriplet, as_text_triplets
from ecct.output.parsing import ParseResult, parse_output


def _triplet_dicts(triplets: Sequence[TextTriplet]) -> list[dict[str, str]]:
    return [{"emotion": e, "cause": c, "category": k} for e, c, k in triplets]


def prediction_record(document: Document, output: str, parsed: ParseResult) -> dict[str, Any]:
    record = parsed.to_dict()
    return {
        "id": document.id,
        "text": document.text,
        "output": output,
        "triplets": record["triplets"],
        "violations": record["violations"],
        "gold": _triplet_dicts(as_text_triplets(document.triplets)),
    }


class _BadLine(Exception):
    """What is wrong with one predictions line, and a short countable reason."""

    def __init__(self, problem: str, reason: str):
        super().__init__(problem)
        self.problem = problem
        self.reason = reason


def load_gold(path: str | Path) -> list[Document]:
    """The gold corpus (strict: a bad line is an error naming the file and line)."""
    return list(read_jsonl(path).documents)


def load_predictions(
    path: str | Path, gold: Sequence[Document], fmt: str = "lines", lenient: bool = False
) -> tuple[dict[str, Prediction], SkipReport]:
    """Predictions by document id, and what was skipped (only in lenient mode; strict mode raises)."""
    origin = str(path)
    documents = {doc.id: doc for doc in gold}
    predictions: dict[str, Prediction] = {}
    first_seen: dict[str, int] = {}
    skipped = SkipReport(origin)
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            doc_id, prediction = _prediction_line(line, documents, fmt)
            if doc_id in first_seen:
                raise _BadLine(f"repeated id {doc_id!r} (first seen on line {first_seen[doc_id]})", "repeated id")
        except _BadLine as err:
            error = DataError(origin, f"line {number}", err.problem, reason=err.reason)
            if not lenient:
                raise error from None
            skipped.add(error)
            continue
        first_seen[doc_id] = number
        predictions[doc_id] = prediction
    return predictions, skipped


def _prediction_line(line: str, documents: dict[str, Document], fmt: str) -> tuple[str, Prediction]:
    """One line -> (document id, prediction); a _BadLine says what is wrong."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise _BadLine(f"not valid JSON ({err.msg} at column {err.colno})", "not json") from None
    if not isinstance(record, dict):
        raise _BadLine(f"expected a JSON object, got {type(record).__name__}", "not an object")
    raw_id = record.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise _BadLine(f"missing or invalid 'id' (got {raw_id!r})", "missing id")
    doc_id = str(raw_id)
    if doc_id not in documents:
        raise _BadLine(f"id {doc_id!r} is not a gold document", "unknown id")
    extra = record.get("violations", [])
    if not isinstance(extra, list) or not all(_is_violation(v) for v in extra):
        raise _BadLine("'violations' must be a list of kinds or of objects with a 'kind'", "bad violations")
    if "triplets" in record:
        return doc_id, Prediction(_triplets(record["triplets"]), list(extra))
    if "output" in record:
        output = record["output"]
        if not isinstance(output, str):
            raise _BadLine(f"'output' must be a string, got {type(output).__name__}", "bad output")
        parsed = parse_output(output, documents[doc_id].text, fmt)
        return doc_id, Prediction(list(parsed.text_triplets), [*parsed.violations, *extra])
    raise _BadLine("needs 'triplets' or 'output'", "no prediction")


def _triplets(value: Any) -> list[TextTriplet]:
    if not isinstance(value, list):
        raise _BadLine(f"'triplets' must be a list, got {type(value).__name__}", "bad triplet")
    triplets = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _BadLine(f"triplet {i}: expected an object, got {type(item).__name__}", "bad triplet")
        emotion, cause = _span_text(item, "emotion", i), _span_text(item, "cause", i)
        category = item.get("category")
        if not isinstance(category, str) or category.strip().lower() not in CATEGORIES:
            raise _BadLine(f"triplet {i}: category {category!r} is not one of {CATEGORIES}", "unknown category")
        triplets.append((emotion, cause, category.strip().lower()))
    return triplets


def _span_text(item: dict[str, Any], role: str, index: int) -> str:
    value = item.get(role)
    if isinstance(value, dict):  # a corpus-style span {"text", "start", "end"}: the text is what is scored
        value = value.get("text")
    if not isinstance(value, str):
        raise _BadLine(f"triplet {index}: '{role}' must be a string, got {value!r}", "bad triplet")
    return value


def _is_violation(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("kind"), str))
