"""Text primitives of the metrics: whitespace normalisation, tokens, LCS length, occurrences."""

from __future__ import annotations

import unicodedata

from ecct.data.model import LANGUAGES


class PlacedSpan(str):
    """A span's text with its character offsets in the document (``None`` when it has none that fit its text).

    Equal only to the same text at the same offsets, so two occurrences of one text are different spans; scoring
    uses it when predictions and gold both give offsets (``ecct.output.records.load_predictions``).
    """

    start: int | None
    end: int | None

    def __new__(cls, text: str, start: int | None, end: int | None) -> PlacedSpan:
        span = super().__new__(cls, text)
        span.start, span.end = start, end
        return span

    def __eq__(self, other: object) -> bool:
        place = (getattr(other, "start", None), getattr(other, "end", None))
        return str.__eq__(self, other) is True and isinstance(other, PlacedSpan) and place == (self.start, self.end)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((str(self), self.start, self.end))


def may_overlap(a: str, b: str) -> bool:
    """False only for two placed spans whose character ranges are known not to overlap (or are unknown)."""
    if not (isinstance(a, PlacedSpan) and isinstance(b, PlacedSpan)):
        return True
    if a.start is None or b.start is None or a.end is None or b.end is None:
        return False
    return a.start < b.end and b.start < a.end


def normalize(text: str, language: str) -> str:
    """Canonical form of a span or document for comparison (a ``PlacedSpan`` keeps its offsets).

    Unicode is NFC-normalised first, on both sides alike (a composed ``é`` equals ``e`` + combining accent).
    ``en``: strip and collapse every run of whitespace to one space (ECF writes spaces around punctuation,
    ``naked .``; those spaces are kept, so a span must be copied as written).
    ``zh``: remove all whitespace, since Chinese text has no meaningful spaces and a model may add some.
    Case and punctuation are never touched: spans are meant to be verbatim.
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    composed = unicodedata.normalize("NFC", text)
    normalized = "".join(composed.split()) if language == "zh" else " ".join(composed.split())
    if isinstance(text, PlacedSpan):
        return PlacedSpan(normalized, text.start, text.end)
    return normalized


def tokens(normalized: str, language: str) -> list[str]:
    """Word-level tokens of a normalised text: characters for ``zh``, whitespace-separated words for ``en``."""
    if language == "zh":
        return list(normalized)
    if language == "en":
        return normalized.split(" ") if normalized else []
    raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence of two token lists.

    Bit-parallel (Allison-Dix / Hyyrö): one big-integer step per token of ``a``, so long
    untrusted model spans cost O(len(a) * len(b) / word size) instead of a Python-level DP table.
    """
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    match_masks: dict[str, int] = {}
    for i, token in enumerate(b):
        match_masks[token] = match_masks.get(token, 0) | (1 << i)
    full = (1 << len(b)) - 1
    v = full
    for token in a:
        u = v & match_masks.get(token, 0)
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def occurrences(text: str, needle: str) -> list[int]:
    """Every start offset of ``needle`` in ``text`` (overlapping occurrences included)."""
    if not needle:
        return []
    starts = []
    pos = text.find(needle)
    while pos != -1:
        starts.append(pos)
        pos = text.find(needle, pos + 1)
    return starts
