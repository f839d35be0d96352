"""Gui et al. 2016 span-level CSV (``gui2016_ece_rthn/datacsv_2105.csv``): one line per emotion instance.

A line is ``id,code,text``, split on the first two commas only (the text has commas). The text carries inline
tags: ``[f]...[/f]`` around the one emotion keyword and ``[R*Kt]...[/R*Kt]`` (or ``[Rt]``) around each cause.
Instances whose tag-stripped text is identical are one news document: they become one ``Document`` whose id is
the first instance id (the ECPE document id) and whose triplets are the union of the instances' triplets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError
from ecct.data.model import Document, Span, Triplet
from ecct.data.readers.base import ReadResult, RecordSink, read_text

# Strict on purpose: anything else in brackets (e.g. a literal "[警方通报]") is document text.
TAG = re.compile(r"\[(/?)(f|-?\d+(?:\*\d+)?[vn])\]")
EMOTION_TAG = "f"
# Codes 0 and 1 are both happiness (1 looks like an admiration subclass); checked against the Gui XML names.
CODE_TO_CATEGORY = {0: "happiness", 1: "happiness", 2: "anger", 3: "sadness", 4: "fear", 5: "disgust", 6: "surprise"}
SOURCE = "gui2016"


@dataclass
class Instance:
    """One decoded CSV line: an emotion keyword, its causes (with their tags) and its category."""

    id: int
    code: int
    text: str
    emotion: Span
    causes: list[tuple[str, Span]]

    @property
    def category(self) -> str:
        return CODE_TO_CATEGORY[self.code]

    def triplets(self) -> list[Triplet]:
        return [Triplet(self.emotion, cause, self.category) for _, cause in self.causes]

    def to_meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "category": self.category,
            "emotion": self.emotion.to_dict(),
            "causes": [{**span.to_dict(), "tag": tag} for tag, span in self.causes],
        }


def decode_tags(tagged: str) -> tuple[str, list[tuple[str, Span]]]:
    """Strip the inline tags; return the plain text and every (tag name, span) in text order.

    Raises ValueError when a tag is closed without being opened, closed out of order, or never closed.
    """
    pieces: list[str] = []
    length = 0  # of the plain text so far
    consumed = 0  # of the tagged text so far
    open_tags: list[tuple[str, int, int]] = []  # (name, start in plain text, column in tagged text)
    found: list[tuple[str, int, int]] = []
    for match in TAG.finditer(tagged):
        pieces.append(tagged[consumed : match.start()])
        length += match.start() - consumed
        consumed = match.end()
        closing, name = match.group(1) == "/", match.group(2)
        if not closing:
            open_tags.append((name, length, match.start()))
        elif open_tags and open_tags[-1][0] == name:
            found.append((name, open_tags.pop()[1], length))
        else:
            expected = f"[/{open_tags[-1][0]}]" if open_tags else "no closing tag"
            raise ValueError(f"tag [/{name}] at text column {match.start()} closes no open tag (expected {expected})")
    if open_tags:
        name, _, column = open_tags[-1]
        raise ValueError(f"tag [{name}] at text column {column} is never closed")
    pieces.append(tagged[consumed:])
    text = "".join(pieces)
    spans = [(name, Span(start, end, text[start:end])) for name, start, end in found]
    return text, sorted(spans, key=lambda item: (item[1].start, item[1].end))


def parse_line(sink: RecordSink, line: str, location: str) -> Instance:
    """One ``id,code,text`` line as an Instance; a DataError names ``location`` and the problem."""
    fields = line.split(",", 2)
    if len(fields) != 3:
        raise sink.error(location, "expected 'id,code,text' (three comma-separated fields)", "malformed line")
    raw_id, raw_code, tagged = fields
    if not raw_id.strip().isdigit():
        raise sink.error(location, f"instance id {raw_id!r} is not a positive integer", "malformed line")
    instance_id = int(raw_id)
    location = f"{location} (instance {instance_id})"
    code = int(raw_code) if raw_code.strip().isdigit() else None
    if code not in CODE_TO_CATEGORY:
        raise sink.error(location, f"unknown category code {raw_code!r}; expected 0-6", "unknown category")
    try:
        text, spans = decode_tags(tagged)
    except ValueError as err:
        raise sink.error(location, str(err), "malformed tag") from None
    if not text.strip():
        raise sink.error(location, "empty text", "empty text")
    if any(not span.text for _, span in spans):
        raise sink.error(location, "a tag encloses no text", "empty span")
    emotions = [span for name, span in spans if name == EMOTION_TAG]
    if len(emotions) != 1:
        raise sink.error(location, f"expected one [f]...[/f] emotion keyword, found {len(emotions)}", "not one emotion")
    causes = [(name, span) for name, span in spans if name != EMOTION_TAG]
    if not causes:
        raise sink.error(location, "no cause span tagged", "no cause")
    return Instance(id=instance_id, code=code, text=text, emotion=emotions[0], causes=causes)


def group_document(sink: RecordSink, instances: list[Instance]) -> Document:
    """Instances of one text as one Document with the union of their triplets."""
    ids = [instance.id for instance in instances]
    document = Document(
        id=str(ids[0]),
        text=instances[0].text,
        language="zh",
        source=SOURCE,
        triplets=[triplet for instance in instances for triplet in instance.triplets()],
        meta={"instance_ids": ids, "instances": [instance.to_meta() for instance in instances]},
    )
    return sink.checked(document, f"instances {ids}")


def read_gui2016_csv(path: str | Path, *, lenient: bool = False) -> ReadResult:
    """Read the span-level CSV into one Document per distinct text (see the module docstring)."""
    sink = RecordSink(path, lenient=lenient)
    by_text: dict[str, list[Instance]] = {}
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            instance = parse_line(sink, line, f"line {number}")
            sink.claim_id(str(instance.id), f"line {number}")
        except DataError as err:
            sink.skip(err)
            continue
        by_text.setdefault(instance.text, []).append(instance)
    for instances in by_text.values():
        try:
            sink.documents.append(group_document(sink, instances))
        except DataError as err:
            sink.skip(err)
    return sink.result()
