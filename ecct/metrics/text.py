"""Text primitives of the metrics: whitespace normalisation, tokens, LCS length, occurrences."""

from __future__ import annotations

from ecct.data.model import LANGUAGES


def normalize(text: str, language: str) -> str:
    """Canonical form of a span or document for comparison.

    ``en``: strip and collapse every run of whitespace to one space (ECF writes spaces around
    punctuation, ``naked .``; those spaces are kept, so a span must be copied as written).
    ``zh``: remove all whitespace, since Chinese text has no meaningful spaces and a model may add some.
    Case and punctuation are never touched: spans are meant to be verbatim.
    """
    if language == "zh":
        return "".join(text.split())
    if language == "en":
        return " ".join(text.split())
    raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")


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
