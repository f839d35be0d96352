"""Score a predictions file against a gold corpus; print the tables and write ``metrics.json``.

    python -m ecct.score predictions.jsonl --gold test.jsonl [--out metrics.json] [--format lines|json] [--lenient]

Gold: an ecct JSONL corpus file, one ``Document.to_dict()`` per line.

Predictions: JSON Lines, one object per document::

    {"id": "doc-1", "triplets": [{"emotion": "afraid", "cause": "spending the night alone", "category": "fear"}]}
    {"id": "doc-2", "output": "(高兴, 考试通过了, Happiness)", "violations": ["truncated"]}

- ``id`` (required): the id of a gold document (a string; an integer is read as its decimal form).
- ``triplets``: a list of objects with ``emotion``, ``cause`` (strings, or ``{"text", "start", "end"}``
  objects as in corpus files) and ``category`` (one of the six categories, any case). Other keys,
  such as offsets, are ignored.
- ``output``: raw model text, parsed with ``ecct.output.parsing.parse_output`` against the gold document's
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
