"""Score a predictions file against a gold corpus; print the tables and write ``metrics.json``.

    python -m ecct.evaluate predictions.jsonl --gold test.jsonl [--out metrics.json] [--format lines|json] [--lenient]

Gold: an ecct JSONL corpus file, one ``Document.to_dict()`` per line.

Predictions: JSON Lines, one object per document::

    {"id": "doc-1", "triplets": [{"emotion": "afraid", "cause": "spending the night alone", "category": "fear"}]}
    {"id": "doc-2", "output": "(高兴, 考试通过了, Happiness)", "violations": ["truncated"]}

- ``id`` (required): the id of a gold document (a string; an integer is read as its decimal form).
- ``triplets``: a list of objects with ``emotion``, ``cause`` (strings, or ``{"text", "start", "end"}``
  objects as in corpus files) and ``category`` (one of the six categories, any case). Other keys,
  such as offsets, are ignored.
- ``output``: raw model text, parsed with ``ecct.parsing.parse_output`` against the gold document's
  text in ``--format``; used only when ``triplets`` is absent (records that carry both, as written
  during training, are scored from their ``triplets``).
- ``violations`` (optional): violation kinds, or objects with a ``kind``; added to the parser's own.

Gold documents without a line count as empty predictions (``missing_predictions``). A bad line
(not JSON, no or unknown id, repeated id, neither ``triplets`` nor ``output``, a malformed triplet)
stops the run with an error naming the file and line; ``--lenient`` skips it, counts it and reports it
(``skipped_prediction_lines`` in ``metrics.json``). ``metrics.json`` defaults to the predictions file's folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import CATEGORIES, Document
from ecct.data.readers.base import read_text
from ecct.data.readers.jsonl import read_jsonl
from ecct.formats import FORMATS, TextTriplet
from ecct.metrics import Prediction, compute_metrics, format_details, format_table
from ecct.parsing import parse_output


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ecct.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, help="predictions JSONL (one object per document)")
    parser.add_argument("--gold", type=Path, required=True, help="gold corpus JSONL (one Document per line)")
    parser.add_argument("--out", type=Path, default=None, help="metrics JSON (default: beside predictions)")
    parser.add_argument("--format", choices=FORMATS, default="lines", help="format of raw 'output' texts")
    parser.add_argument("--lenient", action="store_true", help="skip and count bad prediction lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        gold = load_gold(args.gold)
        predictions, skipped = load_predictions(args.predictions, gold, fmt=args.format, lenient=args.lenient)
    except (DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics = compute_metrics(gold, predictions)
    metrics["skipped_prediction_lines"] = skipped.total
    if skipped.total:
        print(skipped, file=sys.stderr)
    print(format_table(metrics))
    print()
    print(format_details(metrics))
    out = args.out if args.out is not None else args.predictions.parent / "metrics.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nmetrics written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
