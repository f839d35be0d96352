"""Score a predictions file against a gold corpus; print the tables and write ``metrics.json``.

    python -m ecct.score predictions.jsonl --gold test.jsonl [--out metrics.json] [--format lines|json] [--lenient]

Gold: an ecct JSONL corpus file, one ``Document.to_dict()`` per line.

Predictions: JSON Lines, one object per document::

    {"id": "doc-1", "triplets": [{"emotion": "afraid", "cause": "spending the night alone", "category": "fear"}]}
    {"id": "doc-2", "output": "(高兴, 考试通过了, Happiness)", "violations": ["truncated"]}

- ``id`` (required): the id of a gold document (a string; an integer is read as its decimal form).
- ``triplets``: a list of objects with ``emotion``, ``cause`` (strings, or ``{"text", "start", "end"}``
  objects as in corpus files) and ``category`` (one of the six categories, any case). An ecct record's
  ``emotion_span``/``cause_span`` are not read: the parser derived them from the text.
- ``output``: raw model text, parsed with ``ecct.output.parsing.parse_output`` against the gold document's
  text in ``--format``; used only when ``triplets`` is absent (records that carry both, as written
  during training, are scored from their ``triplets``).
- ``violations`` (optional): violation kinds, or objects with a ``kind``; added to the parser's own.

Span matching (``span_match`` in ``metrics.json``, printed first): ``offsets`` when every predicted span that
occurs in its document is a ``{"text", "start", "end"}`` object (gold always has offsets): a span then matches
only the gold span at the same place, and word-level credit needs overlapping character ranges; otherwise
``text``. ``offset_mismatches`` counts predicted spans whose offsets do not select their text (they match nothing
by offsets). Both sides are NFC-normalised before comparing. An ``ecct.predict`` header line is skipped; its
``{"id", "skipped"}`` records count as missing (``skipped_documents``).

ECF gold (documents from the ECF reader, ``source`` ``ecf2``) also gets the SemEval-2024 Task 3 Subtask 1
official scores (``ecct.metrics.semeval``): ``semeval/strict/w-avg-f1`` (the ranking score),
``semeval/proportional/w-avg-f1``, micro P/R/F1 and per-category F1, printed after the details.

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

from ecct.data.errors import DataError
from ecct.metrics import compute_metrics, format_details, format_table
from ecct.output.formats import FORMATS
from ecct.output.records import load_gold, load_predictions


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ecct.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, help="predictions JSONL (one object per document)")
    parser.add_argument("--gold", type=Path, required=True, help="gold corpus JSONL (one Document per line)")
    parser.add_argument("--out", type=Path, default=None, help="metrics JSON (default: beside predictions)")
    parser.add_argument("--format", choices=FORMATS, default="lines", help="format of raw 'output' texts")
    parser.add_argument("--lenient", action="store_true", help="skip and count bad prediction lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = args.out if args.out is not None else args.predictions.parent / "metrics.json"
    if out.is_dir():
        print(f"error: --out {out}: is a folder; give a file name (e.g. {out / 'metrics.json'})", file=sys.stderr)
        return 2
    try:
        gold = load_gold(args.gold)
        loaded = load_predictions(args.predictions, gold, fmt=args.format, lenient=args.lenient)
    except (DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics: dict[str, Any] = {"span_match": loaded.match}
    metrics |= compute_metrics(gold, loaded.predictions, match=loaded.match)
    metrics["offset_mismatches"] = loaded.offset_mismatches
    metrics["skipped_documents"] = loaded.skipped_documents
    metrics["skipped_prediction_lines"] = loaded.skipped.total
    if loaded.skipped.total:
        print(loaded.skipped, file=sys.stderr)
    how = "text and character offsets" if loaded.match == "offsets" else "text (not every span gave offsets)"
    print(
        f"spans matched by {how}; {loaded.offset_mismatches} predicted span(s) with offsets that do not fit their text"
    )
    if loaded.skipped_documents:
        print(f"{loaded.skipped_documents} document(s) skipped by ecct.predict, scored as missing")
    print(format_table(metrics))
    print()
    print(format_details(metrics))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as err:
        print(f"error: --out {out}: cannot write the metrics there ({err.strerror or err})", file=sys.stderr)
        return 2
    print(f"\nmetrics written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
