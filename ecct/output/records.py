"""Prediction records: what ``predictions.jsonl`` holds per document, written by inference, read by scoring.

A record (``prediction_record``)::

    {"id", "text", "output", "triplets": [{emotion, cause, category, emotion_span, cause_span}], "violations",
     "gold"}

``ecct.predict`` writes a header line first (``header_record``: which model, input and decoding mode) and a
``skipped_record`` for a document it could not run on. ``load_predictions`` reads such a file, or any JSON Lines
file with one ``{"id", "triplets" | "output"}`` object per document (``python -m ecct.score`` documents the
accepted shapes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import CATEGORIES, Document
from ecct.data.readers.base import TOO_DEEP, read_text
from ecct.data.readers.jsonl import read_jsonl
from ecct.metrics import Prediction
from ecct.metrics.text import PlacedSpan
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


HEADER_KEY = "ecct_predict"


def header_record(settings: dict[str, Any]) -> dict[str, Any]:
    """The first line of an ``ecct.predict`` output: ``{"ecct_predict": {adapter, input, decoding, ...}}``."""
    return {HEADER_KEY: settings}


def is_header(record: Any) -> bool:
    return isinstance(record, dict) and HEADER_KEY in record and "id" not in record


def skipped_record(doc_id: str, reason: str) -> dict[str, Any]:
    """A document predict could not run on (it has no prediction; ``ecct.score`` counts it as missing)."""
    return {"id": doc_id, "skipped": reason}


class _BadLine(Exception):
    """What is wrong with one predictions line, and a short countable reason."""

    def __init__(self, problem: str, reason: str):
        super().__init__(problem)
        self.problem = problem
        self.reason = reason


def load_gold(path: str | Path) -> list[Document]:
    """The gold corpus (strict: a bad line is an error naming the file and line)."""
    return list(read_jsonl(path).documents)


@dataclass
class LoadedPredictions:
    """What ``load_predictions`` read: predictions by id, skipped lines, and how spans are to be matched."""

    predictions: dict[str, Prediction]
    skipped: SkipReport
    match: str = "text"  # "offsets": every predicted span that occurs in the text gave offsets (gold always has)
    offset_mismatches: int = 0  # predicted spans whose offsets do not select their text
    skipped_documents: int = 0  # ``{"id", "skipped"}`` records: documents ecct.predict could not run on

    def __iter__(self) -> Any:  # ``predictions, skipped = load_predictions(...)`` as before
        return iter((self.predictions, self.skipped))


@dataclass
class _Line:
    doc_id: str
    triplets: list[tuple[_SpanValue, _SpanValue, str]] | None  # None: parsed from "output" (no offsets)
    prediction: Prediction | None = None


def load_predictions(
    path: str | Path, gold: Sequence[Document], fmt: str = "lines", lenient: bool = False
) -> LoadedPredictions:
    """Predictions by document id and what was skipped (only in lenient mode; strict mode raises).

    Spans are matched by offsets when every predicted span found in its document carries offsets (``{"text",
    "start", "end"}`` objects), else by text. A span whose offsets do
    not select its text is counted in ``offset_mismatches`` and, matching by offsets, matches nothing.
    """
    origin = str(path)
    documents = {doc.id: doc for doc in gold}
    lines: dict[str, _Line] = {}
    first_seen: dict[str, int] = {}
    skipped = SkipReport(origin)
    skipped_documents = 0
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            read = _prediction_line(line, documents, fmt)
            if read is None:  # the header line of an ecct.predict output
                continue
            if read.doc_id in first_seen:
                raise _BadLine(
                    f"repeated id {read.doc_id!r} (first seen on line {first_seen[read.doc_id]})", "repeated id"
                )
        except _BadLine as err:
            error = DataError(origin, f"line {number}", err.problem, reason=err.reason)
            if not lenient:
                raise error from None
            skipped.add(error)
            continue
        first_seen[read.doc_id] = number
        if read.prediction is None and read.triplets is None:
            skipped_documents += 1  # written by ecct.predict as skipped: scored as a missing prediction
            continue
        lines[read.doc_id] = read
    match = _match_mode(lines, documents)
    predictions, mismatches = {}, 0
    for doc_id, read in lines.items():
        if read.triplets is None:
            assert read.prediction is not None
            predictions[doc_id] = read.prediction
            continue
        text = documents[doc_id].text
        triplets = []
        for emotion, cause, category in read.triplets:
            spans = []
            for span in (emotion, cause):
                fits = span.start is None or text[span.start : span.end] == span.text
                mismatches += not fits
                placed = span.start if fits else None, span.end if fits else None
                spans.append(PlacedSpan(span.text, *placed) if match == "offsets" else span.text)
            triplets.append((spans[0], spans[1], category))
        assert read.prediction is not None
        predictions[doc_id] = Prediction(triplets, read.prediction.violations)
    return LoadedPredictions(predictions, skipped, match, mismatches, skipped_documents)


def _match_mode(lines: dict[str, _Line], documents: dict[str, Document]) -> str:
    spans = [
        (span, documents[doc_id].text)
        for doc_id, read in lines.items()
        for triplet in (read.triplets if read.triplets is not None else [])
        for span in triplet[:2]
    ]
    if any(read.triplets is None for read in lines.values()) or not any(s.start is not None for s, _ in spans):
        return "text"
    # A span without offsets is allowed only where it cannot be placed: not in the text (ecct writes null there).
    return "offsets" if all(s.start is not None or s.text not in text for s, text in spans) else "text"


def _prediction_line(line: str, documents: dict[str, Document], fmt: str) -> _Line | None:
    """One line -> what it predicts (None for a header line); a _BadLine says what is wrong."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise _BadLine(f"not valid JSON ({err.msg} at column {err.colno})", "not json") from None
    except RecursionError:  # e.g. 100,000 nested arrays: the decoder recurses once per level
        raise _BadLine(TOO_DEEP, "not json") from None
    if is_header(record):
        return None
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
        return _Line(doc_id, _triplets(record["triplets"]), Prediction([], list(extra)))
    if "output" in record:
        output = record["output"]
        if not isinstance(output, str):
            raise _BadLine(f"'output' must be a string, got {type(output).__name__}", "bad output")
        parsed = parse_output(output, documents[doc_id].text, fmt)
        return _Line(doc_id, None, Prediction(list(parsed.text_triplets), [*parsed.violations, *extra]))
    if isinstance(record.get("skipped"), str):
        return _Line(doc_id, None, None)
    raise _BadLine("needs 'triplets' or 'output'", "no prediction")


@dataclass(frozen=True)
class _SpanValue:
    text: str
    start: int | None = None
    end: int | None = None


def _triplets(value: Any) -> list[tuple[_SpanValue, _SpanValue, str]]:
    if not isinstance(value, list):
        raise _BadLine(f"'triplets' must be a list, got {type(value).__name__}", "bad triplet")
    triplets = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _BadLine(f"triplet {i}: expected an object, got {type(item).__name__}", "bad triplet")
        emotion, cause = _span(item, "emotion", i), _span(item, "cause", i)
        category = item.get("category")
        if not isinstance(category, str) or category.strip().lower() not in CATEGORIES:
            raise _BadLine(f"triplet {i}: category {category!r} is not one of {CATEGORIES}", "unknown category")
        triplets.append((emotion, cause, category.strip().lower()))
    return triplets


def _span(item: dict[str, Any], role: str, index: int) -> _SpanValue:
    """A span as text or as ``{"text", "start", "end"}``.

    An ecct record's ``emotion_span``/``cause_span`` are not read: the parser derived them from the text (the model
    writes text only), so scoring such a file by text agrees with the run's own metrics.
    """
    value = item.get(role)
    offsets = None
    if isinstance(value, dict):
        value, offsets = value.get("text"), value
    if not isinstance(value, str):
        raise _BadLine(f"triplet {index}: '{role}' must be a string, got {value!r}", "bad triplet")
    if isinstance(offsets, dict):
        start, end = offsets.get("start"), offsets.get("end")
        if type(start) is int and type(end) is int:
            return _SpanValue(value, start, end)
        if start is not None or end is not None:
            raise _BadLine(f"triplet {index}: '{role}' offsets must be integers, got {start!r}, {end!r}", "bad triplet")
    return _SpanValue(value)


def _is_violation(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, dict) and isinstance(value.get("kind"), str))
