"""BIO tags for emotion and cause spans: character spans <-> token labels through a fast tokenizer's offsets.

Labels: ``O, B-EMO, I-EMO, B-CAU, I-CAU``. Rules, in the order they apply:

- Characters are tagged first. Where an emotion and a cause overlap, the emotion wins (every triplet needs its
  emotion; a cause can still be recovered around it). Where two spans of the same kind overlap, the later one
  starts a new span at its own start (BIO cannot nest). Both are rare in the Gui corpus (1 and 2 cases).
- A token takes ``B-X`` when a span of kind X starts at one of its characters, else ``I-X`` when its first
  character lies inside such a span, else ``O``. A token with the same offsets as the previous one (one character
  split into several pieces) continues, never begins. A token with an empty offset range is ignored (label -100).
- Decoding: ``B-X`` opens a span, ``I-X`` extends an open span of kind X (and opens one when none is open: the
  usual lenient repair), anything else closes it. A span runs from its first token's start offset to its last
  token's end offset, trimmed of surrounding whitespace.

A span boundary that falls inside a token cannot survive the round trip: the decoded span grows to whole tokens.
``round_trip_errors`` finds such spans (the test on the real corpus counts them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ecct.data.model import Document, Span

EMOTION, CAUSE = "EMO", "CAU"
LABELS: tuple[str, ...] = ("O", f"B-{EMOTION}", f"I-{EMOTION}", f"B-{CAUSE}", f"I-{CAUSE}")
LABEL_ID = {label: i for i, label in enumerate(LABELS)}
IGNORE = -100
Offsets = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class KindSpan:
    """A character span of one kind (emotion or cause)."""

    kind: str
    start: int
    end: int


def document_spans(document: Document) -> list[KindSpan]:
    """The distinct emotion and cause spans of a document's gold triplets, in text order."""
    spans = {KindSpan(EMOTION, t.emotion.start, t.emotion.end) for t in document.triplets}
    spans |= {KindSpan(CAUSE, t.cause.start, t.cause.end) for t in document.triplets}
    return sorted(spans, key=lambda s: (s.start, s.end, s.kind))


def char_tags(length: int, spans: Iterable[KindSpan]) -> list[str]:
    """One BIO tag per character; emotions are written last so that they win over overlapping causes."""
    tags = ["O"] * length
    ordered = sorted(spans, key=lambda s: (s.kind == EMOTION, s.start, s.end))
    for span in ordered:
        if not 0 <= span.start < span.end <= length:
            raise ValueError(f"span [{span.start}, {span.end}) lies outside a text of {length} characters")
        tags[span.start] = f"B-{span.kind}"
        for i in range(span.start + 1, span.end):
            tags[i] = f"I-{span.kind}"
    return tags


def encode_labels(offsets: Offsets, tags: Sequence[str]) -> list[int]:
    """Token label ids from character tags (see the module rules); -100 for tokens without characters."""
    labels: list[int] = []
    previous: tuple[int, int] | None = None
    for start, end in offsets:
        if end <= start:
            labels.append(IGNORE)
            continue
        chars = tags[start:end]
        begins = next((tag for tag in chars if tag.startswith("B-")), None)
        if begins is not None and (start, end) != previous:
            label = begins
        elif chars[0] != "O":
            label = "I-" + chars[0][2:]
        elif begins is not None:  # a repeated piece of a character that begins a span
            label = "I-" + begins[2:]
        else:
            label = "O"
        labels.append(LABEL_ID[label])
        previous = (start, end)
    return labels


def decode_labels(offsets: Offsets, labels: Sequence[int], text: str) -> list[KindSpan]:
    """Character spans from token label ids (lenient BIO), trimmed of whitespace, in text order."""
    spans: list[KindSpan] = []
    open_kind: str | None = None
    open_start = open_end = 0

    def close() -> None:
        if open_kind is not None:
            trimmed = _trim(text, open_start, open_end)
            if trimmed is not None:
                spans.append(KindSpan(open_kind, *trimmed))

    for (start, end), label_id in zip(offsets, labels, strict=True):
        if end <= start or label_id == IGNORE:
            continue
        label = LABELS[label_id]
        if label.startswith("B-") or (label.startswith("I-") and open_kind != label[2:]):
            close()
            open_kind, open_start, open_end = label[2:], start, end
        elif label.startswith("I-"):
            open_end = max(open_end, end)
        else:
            close()
            open_kind = None
    close()
    return sorted(set(spans), key=lambda s: (s.start, s.end, s.kind))


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def as_span(text: str, span: KindSpan) -> Span:
    return Span(span.start, span.end, text[span.start : span.end])


def round_trip_errors(text: str, offsets: Offsets, spans: Sequence[KindSpan]) -> list[tuple[KindSpan, str]]:
    """Gold spans that do not come back from encode -> decode, each with the reason (for counting)."""
    decoded = set(decode_labels(offsets, encode_labels(offsets, char_tags(len(text), spans)), text))
    starts = {s for s, e in offsets if e > s}
    ends = {e for s, e in offsets if e > s}
    errors = []
    for span in spans:
        if span in decoded:
            continue
        if span.start not in starts or span.end not in ends:
            reason = "boundary inside a token"
        elif any(o != span and o.start < span.end and span.start < o.end for o in spans):
            reason = "overlaps another span"
        else:
            reason = "other"
        errors.append((span, reason))
    return errors
