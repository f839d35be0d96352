"""JSON Lines: the format for your own data, and the one ecct writes.

One JSON object per line, UTF-8; blank lines are ignored. A full record (what ``write_jsonl`` writes)::

    {"id": "d1", "text": "I was afraid to spend the night alone.", "language": "en", "source": "mine",
     "triplets": [{"emotion": {"text": "afraid", "start": 6, "end": 12},
                   "cause": {"text": "spend the night alone", "start": 16, "end": 37},
                   "category": "fear"}],
     "meta": {"note": "anything"}}

Fields:

- ``id`` (string or integer, required): unique within the file; integers become strings.
- ``text`` (string, required): the document, not blank.
- ``language`` (required): ``"zh"`` or ``"en"``.
- ``source`` (optional, default ``"jsonl"``): where the document comes from.
- ``triplets`` (optional, default ``[]``; a document without triplets is valid, e.g. input to prediction):
  each has ``emotion`` and ``cause`` spans and a ``category``, one of happiness, sadness, anger, fear,
  disgust, surprise (any letter case).
- ``meta`` (optional object): kept as it is.

A span is ``{"text", "start", "end"}`` with ``text == document_text[start:end]`` (character offsets, end
exclusive). For convenience a span may give only its text, as ``{"text": "afraid"}`` or just ``"afraid"``:
the reader then takes the **first occurrence** in the document text, so give offsets when the span you mean
is a later occurrence. A span whose text does not occur, or whose offsets do not match its text, is an error.
Unknown keys are errors too (a misspelt ``"triplet"`` would otherwise drop gold labels silently).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ecct import jsonl
from ecct.data.errors import DataError
from ecct.data.model import Document, Span, Triplet, find_span
from ecct.data.readers.base import TOO_DEEP, ReadResult, RecordSink, read_text

DEFAULT_SOURCE = "jsonl"
DOCUMENT_KEYS = {"id", "text", "language", "source", "triplets", "meta"}
TRIPLET_KEYS = {"emotion", "cause", "category"}
SPAN_KEYS = {"text", "start", "end"}


def _check_keys(sink: RecordSink, data: Any, allowed: set[str], required: set[str], what: str, location: str) -> None:
    if not isinstance(data, dict):
        raise sink.error(location, f"{what} is not a JSON object", "malformed record")
    if unknown := sorted(set(data) - allowed):
        raise sink.error(
            location, f"{what} has unknown field(s) {unknown}; allowed: {sorted(allowed)}", "malformed record"
        )
    if missing := sorted(required - set(data)):
        raise sink.error(location, f"{what} lacks required field(s) {missing}", "malformed record")


def parse_span(sink: RecordSink, value: Any, text: str, what: str, location: str) -> Span:
    """A full span, or one given by its text only (located at its first occurrence)."""
    data = {"text": value} if isinstance(value, str) else value
    _check_keys(sink, data, SPAN_KEYS, {"text"}, what, location)
    needle = data["text"]
    offsets = [data[key] for key in ("start", "end") if key in data]
    if not isinstance(needle, str) or any(type(offset) is not int for offset in offsets):
        raise sink.error(location, f"{what}: 'text' must be a string and 'start', 'end' integers", "malformed record")
    if len(offsets) == 2:
        return Span(offsets[0], offsets[1], needle)  # checked against the text when the document is validated
    if offsets:
        raise sink.error(location, f"{what}: give both 'start' and 'end', or neither", "malformed record")
    span = find_span(text, needle)
    if span is None:
        raise sink.error(location, f"{what} {needle!r} does not occur in the text", "span not in text")
    return span


def parse_record(sink: RecordSink, line: str, location: str) -> Document:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise sink.error(location, f"malformed JSON ({err.msg}, column {err.colno})", "malformed json") from None
    except RecursionError:  # e.g. 100,000 nested arrays: the decoder recurses once per level
        raise sink.error(location, TOO_DEEP, "malformed json") from None
    _check_keys(sink, data, DOCUMENT_KEYS, {"id", "text", "language"}, "the record", location)
    if type(data["id"]) not in (str, int) or not isinstance(data["text"], str):
        raise sink.error(location, "'id' must be a string or integer and 'text' a string", "malformed record")
    location = f"{location} (document {str(data['id'])!r})"
    triplets_data, meta = data.get("triplets", []), data.get("meta", {})
    if not isinstance(triplets_data, list) or not isinstance(meta, dict):
        raise sink.error(location, "'triplets' must be a list and 'meta' an object", "malformed record")
    triplets = []
    for i, triplet in enumerate(triplets_data):
        what = f"triplet {i}"
        _check_keys(sink, triplet, TRIPLET_KEYS, TRIPLET_KEYS, what, location)
        emotion = parse_span(sink, triplet["emotion"], data["text"], f"{what} emotion", location)
        cause = parse_span(sink, triplet["cause"], data["text"], f"{what} cause", location)
        triplets.append(Triplet(emotion, cause, str(triplet["category"]).strip().lower()))
    document = Document(
        id=str(data["id"]),
        text=data["text"],
        language=str(data["language"]),
        source=str(data.get("source", DEFAULT_SOURCE)),
        triplets=triplets,
        meta=meta,
    )
    document = sink.checked(document, location)
    sink.claim_id(document.id, location)
    return document


def read_jsonl(path: str | Path, *, lenient: bool = False) -> ReadResult:
    """Read one Document per non-blank line (the format is in the module docstring)."""
    sink = RecordSink(path, lenient=lenient)
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            sink.documents.append(parse_record(sink, line, f"line {number}"))
        except DataError as err:
            sink.skip(err)
    return sink.result()


def write_jsonl(documents: Iterable[Document], path: str | Path) -> None:
    """Write validated documents, one ``Document.to_dict()`` per line (UTF-8, readable by ``read_jsonl``)."""
    documents = list(documents)
    for document in documents:
        document.validate(str(path))
    jsonl.write_jsonl(documents, path)
