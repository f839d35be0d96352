"""Auxiliary labelling: a document's labelled spans written into its text as markers, and back.

``[Emotion 1]{无奈}`` marks an emotion span and ``[Cause 1]{对方拖欠工程款}`` one of its causes. Emotion k is the
k-th distinct emotion span of the document in text order; every cause of that emotion carries the same number,
so an augmented text can be turned back into triplets without the source's offsets.

Documents the markers cannot describe faithfully are refused as sources (``DataError`` with a countable
``reason``): a cause shared by two emotions (one marker cannot carry two numbers), overlapping or nested spans
(markers cannot nest), one emotion span with two categories, a text that already contains the marker
delimiters, and a document without triplets (nothing to anchor a rewrite).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from itertools import pairwise
from typing import Any

from ecct.data.errors import DataError
from ecct.data.model import Document, Span, Triplet

EMOTION = "emotion"
CAUSE = "cause"


@dataclass(frozen=True)
class MarkerFormat:
    """``{open}{label} {number}{close}{span_open}{text}{span_close}``, e.g. ``[Emotion 1]{无奈}``."""

    emotion_label: str = "Emotion"
    cause_label: str = "Cause"
    open: str = "["
    close: str = "]"
    span_open: str = "{"
    span_close: str = "}"

    def __post_init__(self) -> None:
        for name in ("emotion_label", "cause_label", "open", "close", "span_open", "span_close"):
            if not getattr(self, name):
                raise ValueError(f"augment.marker.{name} must be a non-empty string")
        if self.emotion_label.casefold() == self.cause_label.casefold():
            raise ValueError("augment.marker.emotion_label and cause_label must differ")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> MarkerFormat:
        return cls(**dict(cfg or {}))

    @property
    def key(self) -> str:
        """Identifies the format in cache keys (a different format renders different prompts)."""
        return self.render(EMOTION, 1, "x") + self.render(CAUSE, 1, "y")

    def label(self, role: str) -> str:
        return self.emotion_label if role == EMOTION else self.cause_label

    def render(self, role: str, number: int, text: str) -> str:
        return f"{self.open}{self.label(role)} {number}{self.close}{self.span_open}{text}{self.span_close}"

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        """A well-formed marker; the span text is the shortest run up to the first ``span_close``."""
        labels = "|".join(re.escape(label) for label in (self.emotion_label, self.cause_label))
        return re.compile(
            rf"{re.escape(self.open)}\s*({labels})\s*(\d+)\s*{re.escape(self.close)}"
            rf"{re.escape(self.span_open)}(.*?){re.escape(self.span_close)}",
            re.DOTALL | re.IGNORECASE,
        )

    @cached_property
    def fragment_pattern(self) -> re.Pattern[str]:
        """What is left of a broken marker: an opening label, or a span delimiter on its own."""
        labels = "|".join(re.escape(label) for label in (self.emotion_label, self.cause_label))
        return re.compile(
            rf"{re.escape(self.open)}\s*(?:{labels})|(?:{labels})\s*\d+\s*{re.escape(self.close)}"
            rf"|{re.escape(self.span_open)}|{re.escape(self.span_close)}",
            re.IGNORECASE,
        )

    def role_of(self, label: str) -> str:
        return EMOTION if label.casefold() == self.emotion_label.casefold() else CAUSE


DEFAULT_MARKERS = MarkerFormat()


@dataclass(frozen=True)
class Marker:
    role: str  # "emotion" | "cause"
    number: int
    text: str


@dataclass(frozen=True)
class MarkedDocument:
    """A source document with its spans marked; ``categories[k]`` is the category of emotion k."""

    source: Document
    text: str
    markers: tuple[Marker, ...]
    categories: Mapping[int, str]


def mark_document(doc: Document, fmt: MarkerFormat = DEFAULT_MARKERS) -> MarkedDocument:
    """The marked text of ``doc``; raises ``DataError`` (reason says why) for documents markers cannot describe."""
    where = f"document {doc.id!r}"
    origin = "augment sources"
    if not doc.triplets:
        raise DataError(origin, where, "no triplets to mark", reason="no triplets")
    for delimiter in (fmt.span_open, fmt.span_close):
        if delimiter in doc.text:
            raise DataError(
                origin, where, f"text contains the marker delimiter {delimiter!r}", reason="text contains delimiters"
            )
    if fmt.fragment_pattern.search(doc.text):
        raise DataError(origin, where, "text already contains a marker label", reason="text contains delimiters")

    categories_of: dict[Span, set[str]] = {}
    emotions_of_cause: dict[Span, set[Span]] = {}
    for t in doc.triplets:
        categories_of.setdefault(t.emotion, set()).add(t.category)
        emotions_of_cause.setdefault(t.cause, set()).add(t.emotion)
    if any(len(c) > 1 for c in categories_of.values()):
        raise DataError(origin, where, "an emotion span has several categories", reason="emotion with two categories")
    shared = [c for c, emotions in emotions_of_cause.items() if len(emotions) > 1]
    if shared:
        raise DataError(
            origin, where, f"cause {shared[0].text!r} belongs to several emotions", reason="cause shared by emotions"
        )
    emotions = sorted(categories_of)
    number = {span: k for k, span in enumerate(emotions, start=1)}
    spans = sorted(
        [(span, EMOTION, number[span]) for span in emotions]
        + [(cause, CAUSE, number[next(iter(e))]) for cause, e in emotions_of_cause.items()],
        key=lambda item: (item[0].start, item[0].end),
    )
    for (a, _, _), (b, _, _) in pairwise(spans):
        if b.start < a.end:
            raise DataError(origin, where, f"spans {a.text!r} and {b.text!r} overlap", reason="overlapping spans")
    pieces: list[str] = []
    position = 0
    for span, role, k in spans:
        pieces += [doc.text[position : span.start], fmt.render(role, k, span.text)]
        position = span.end
    pieces.append(doc.text[position:])
    return MarkedDocument(
        source=doc,
        text="".join(pieces),
        markers=tuple(Marker(role, k, span.text) for span, role, k in spans),
        categories={number[span]: next(iter(cats)) for span, cats in categories_of.items()},
    )


@dataclass(frozen=True)
class ParsedMarks:
    """A marked text with its markers removed: the plain text, each marker with its new span, and leftovers."""

    text: str
    found: tuple[tuple[Marker, Span], ...]
    fragments: tuple[str, ...]  # pieces of malformed markers found outside the well-formed ones


def strip_markers(marked_text: str, fmt: MarkerFormat = DEFAULT_MARKERS) -> ParsedMarks:
    """Remove the markers of ``marked_text`` and record where each span lands in the plain text."""
    pieces: list[str] = []
    found: list[tuple[Marker, Span]] = []
    fragments: list[str] = []
    length = 0
    position = 0
    for match in fmt.pattern.finditer(marked_text):
        between = marked_text[position : match.start()]
        fragments += [m.group(0) for m in fmt.fragment_pattern.finditer(between)]
        pieces.append(between)
        length += len(between)
        label, number, text = match.group(1), int(match.group(2)), match.group(3)
        fragments += [m.group(0) for m in fmt.fragment_pattern.finditer(text)]
        found.append((Marker(fmt.role_of(label), number, text), Span(length, length + len(text), text)))
        pieces.append(text)
        length += len(text)
        position = match.end()
    tail = marked_text[position:]
    fragments += [m.group(0) for m in fmt.fragment_pattern.finditer(tail)]
    pieces.append(tail)
    return ParsedMarks(text="".join(pieces), found=tuple(found), fragments=tuple(fragments))


def rebuild_document(marked: MarkedDocument, parsed: ParsedMarks, doc_id: str, meta: Mapping[str, Any]) -> Document:
    """The augmented document: each cause k paired with emotion k, offsets from the parsed markers, validated."""
    emotions = {m.number: span for m, span in parsed.found if m.role == EMOTION}
    triplets = [
        Triplet(emotion=emotions[m.number], cause=span, category=marked.categories[m.number])
        for m, span in parsed.found
        if m.role == CAUSE and m.number in emotions and m.number in marked.categories
    ]
    doc = Document(
        id=doc_id,
        text=parsed.text,
        language=marked.source.language,
        source=f"{marked.source.source}+augment" if marked.source.source else "augment",
        triplets=triplets,
        meta=dict(meta),
    )
    return doc.sorted().validate("augmentation")
