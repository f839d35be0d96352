"""The span-level data model: documents, spans and (emotion, cause, category) triplets.

Every reader produces these objects; every later stage (prompts, parsing, metrics)
consumes them. Offsets are character offsets into ``Document.text`` and the
invariant ``text[start:end] == span.text`` always holds for a validated document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ecct.data.errors import DataError

CATEGORIES: tuple[str, ...] = ("happiness", "sadness", "anger", "fear", "disgust", "surprise")
LANGUAGES: tuple[str, ...] = ("zh", "en")


@dataclass(frozen=True, order=True)
class Span:
    """A verbatim piece of a document: ``text == document.text[start:end]``."""

    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Span:
        return cls(start=int(data["start"]), end=int(data["end"]), text=str(data["text"]))


@dataclass(frozen=True)
class Triplet:
    """One emotion span, one of its cause spans, and the emotion's category."""

    emotion: Span
    cause: Span
    category: str

    @property
    def sort_key(self) -> tuple[int, int, int, int, str]:
        """Position in the text: emotion first, then cause (the order targets are written in)."""
        return (self.emotion.start, self.emotion.end, self.cause.start, self.cause.end, self.category)

    def to_dict(self) -> dict[str, Any]:
        return {"emotion": self.emotion.to_dict(), "cause": self.cause.to_dict(), "category": self.category}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Triplet:
        return cls(
            emotion=Span.from_dict(data["emotion"]),
            cause=Span.from_dict(data["cause"]),
            category=str(data["category"]),
        )


@dataclass
class Document:
    """A text with all its gold triplets, sorted by position."""

    id: str
    text: str
    language: str
    source: str
    triplets: list[Triplet] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self, origin: str = "<memory>") -> Document:
        """Check every invariant; raise a DataError naming ``origin`` and this document's id."""
        where = f"document {self.id!r}"
        if not self.id:
            raise DataError(origin, where, "empty document id", reason="empty id")
        if not self.text or not self.text.strip():
            raise DataError(origin, where, "empty text", reason="empty text")
        if self.language not in LANGUAGES:
            raise DataError(
                origin,
                where,
                f"unknown language {self.language!r}; expected one of {LANGUAGES}",
                reason="unknown language",
            )
        for i, triplet in enumerate(self.triplets):
            if triplet.category not in CATEGORIES:
                raise DataError(
                    origin,
                    f"{where}, triplet {i}",
                    f"unknown category {triplet.category!r}; expected one of {CATEGORIES}",
                    reason="unknown category",
                )
            for role, span in (("emotion", triplet.emotion), ("cause", triplet.cause)):
                if not span.text:
                    raise DataError(origin, f"{where}, triplet {i}", f"empty {role} span", reason="empty span")
                if not (0 <= span.start < span.end <= len(self.text)):
                    raise DataError(
                        origin,
                        f"{where}, triplet {i}",
                        f"{role} span offsets [{span.start}, {span.end}) outside the text",
                        reason="span not in text",
                    )
                if self.text[span.start : span.end] != span.text:
                    raise DataError(
                        origin,
                        f"{where}, triplet {i}",
                        f"{role} span {span.text!r} is not text[{span.start}:{span.end}]"
                        f" ({self.text[span.start : span.end]!r})",
                        reason="span not in text",
                    )
        return self

    def sorted(self) -> Document:
        """Triplets in text order, duplicates removed."""
        unique = {(t.emotion, t.cause, t.category): t for t in self.triplets}
        self.triplets = sorted(unique.values(), key=lambda t: t.sort_key)
        return self

    @property
    def emotions(self) -> list[tuple[Span, str]]:
        """Distinct (emotion span, category) pairs, in text order."""
        return sorted({(t.emotion, t.category) for t in self.triplets})

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "language": self.language,
            "source": self.source,
            "triplets": [t.to_dict() for t in self.triplets],
        }
        if self.meta:
            data["meta"] = self.meta
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        return cls(
            id=str(data["id"]),
            text=str(data["text"]),
            language=str(data["language"]),
            source=str(data.get("source", "")),
            triplets=[Triplet.from_dict(t) for t in data.get("triplets", [])],
            meta=dict(data.get("meta", {})),
        )


def find_span(text: str, needle: str, hint: int | None = None) -> Span | None:
    """Locate ``needle`` in ``text``; among several occurrences take the one nearest ``hint``."""
    if not needle:
        return None
    starts = []
    pos = text.find(needle)
    while pos != -1:
        starts.append(pos)
        pos = text.find(needle, pos + 1)
    if not starts:
        return None
    start = starts[0] if hint is None else min(starts, key=lambda s: (abs(s - hint), s))
    return Span(start=start, end=start + len(needle), text=needle)
