"""Reading the pieces of one triplet: spans (verbatim, quoted, punctuated), categories, empty markers."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ecct.data.model import CATEGORIES

_STRICT_ALIASES: dict[str, str] = {c: c for c in CATEGORIES} | {"joy": "happiness"}
"""Names that are clearly a category wherever they stand in a triplet."""

_LOOSE_ALIASES: dict[str, str] = _STRICT_ALIASES | {
    # Accepted in the category slot only: these words are also common emotion spans.
    **dict.fromkeys(
        ("happy", "joyful", "joyous", "glad", "喜悦", "快乐", "高兴", "开心", "幸福", "愉快", "欢乐", "喜", "乐"),
        "happiness",
    ),
    **dict.fromkeys(("sad", "sorrow", "unhappy", "悲伤", "伤心", "难过", "悲哀", "哀伤", "哀", "悲"), "sadness"),
    **dict.fromkeys(("angry", "mad", "rage", "furious", "愤怒", "生气", "气愤", "怒"), "anger"),
    **dict.fromkeys(("afraid", "scared", "fearful", "frightened", "terrified", "恐惧", "害怕", "惧"), "fear"),
    **dict.fromkeys(("disgusted", "disgusting", "厌恶", "恶心", "讨厌", "恶"), "disgust"),
    **dict.fromkeys(
        ("surprised", "surprising", "amazed", "astonished", "惊讶", "惊奇", "吃惊", "意外", "惊"), "surprise"
    ),
}

_EMPTY_MARKERS = frozenset({"none", "null", "无"})
_OPENERS = "(（["
_CLOSERS = ")）]"
_SEPARATORS = ",，"
_QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』", "`": "`", "«": "»"}
_QUOTE_CHARS = "".join(sorted(set(_QUOTE_PAIRS) | set(_QUOTE_PAIRS.values())))
_TRAILING_PUNCT = ".。,，;；:：!！?？、…"
_BETWEEN_TRIPLETS = " \t,;，；"
_MAX_CLOSERS = 64  # closing brackets examined per opening one: bounds the work on adversarial text
_MAX_SPLITS = 256  # emotion/cause boundaries scored per triplet
_DETAIL_CHARS = 80

_FENCE = re.compile(r"\s*(?:```|~~~)")
_LIST_MARKER = re.compile(r"(?:[-*•·+]|\d{1,3}[.)、．:：]|[(（]\d{1,3}[)）](?=\s*[(（\[]))(?=\s|[(（\[]|$)\s*")


def _shorten(fragment: str) -> str:
    fragment = fragment.strip()
    if len(fragment) > _DETAIL_CHARS:
        fragment = fragment[: _DETAIL_CHARS - 1] + "…"
    return repr(fragment)


def _unquote(text: str) -> str:
    """Remove matching quote pairs around ``text``.

    A pair enclosing whitespace (``" Oh , Chandler ! "``) is kept: that is tokenised text quoting speech
    (ECF writes quotes so), not a model quoting its span.
    """
    while (
        len(text) >= 3
        and text[0] in _QUOTE_PAIRS
        and text[-1] == _QUOTE_PAIRS[text[0]]
        and not text[1].isspace()
        and not text[-2].isspace()
    ):
        text = text[1:-1]
    return "" if text in ("''", '""', "“”", "‘’") else text


def _category_of(piece: str, loose: bool) -> str | None:
    """Canonical category written as ``piece`` (any case, quotes, trailing punctuation), or None."""
    key = piece.strip().strip(_QUOTE_CHARS + " \t").rstrip(_TRAILING_PUNCT).strip(_QUOTE_CHARS + " \t").lower()
    if not key or len(key) > 16:
        return None
    return (_LOOSE_ALIASES if loose else _STRICT_ALIASES).get(key)


def _is_empty_marker(line: str) -> bool:
    """``None``, ``none``, ``null``, ``无`` (maybe quoted, punctuated or after a list marker)."""
    marker = _LIST_MARKER.match(line)
    if marker and marker.end() < len(line):
        line = line[marker.end() :]
    return line.strip(_QUOTE_CHARS + _TRAILING_PUNCT + " \t").lower() in _EMPTY_MARKERS


def _positions(text: str, chars: str) -> list[int]:
    return [i for i, ch in enumerate(text) if ch in chars]


@dataclass(frozen=True)
class _Resolved:
    """A span as read: its final text, whether it is verbatim in the document, and how it was repaired."""

    raw: str
    text: str
    located: bool
    quoted: bool = False
    repair: str | None = None

    @property
    def repairs(self) -> int:
        return int(self.quoted) + int(self.repair is not None)


@dataclass
class _Fields:
    """An (emotion, cause, category) read from one fragment, with the format notes it produced."""

    emotion: _Resolved
    cause: _Resolved
    category: str
    notes: list[str]


@dataclass
class _Rejected:
    kind: str
    detail: str


class _SpanResolver:
    """Span resolution against the document (``self.document``), cached per (raw text, exact)."""

    document: str | None
    _cache: dict[tuple[str, bool], _Resolved]

    def resolve(self, raw: str, exact: bool) -> _Resolved:
        """Read one span: ``exact`` (JSON) keeps surrounding whitespace unless stripping it makes it verbatim."""
        key = (raw, exact)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._resolve(raw, exact)
        return cached

    def _resolve(self, raw: str, exact: bool) -> _Resolved:
        doc = self.document
        first = raw if exact else raw.strip()
        if doc is None:
            if exact:
                return _Resolved(raw, raw, located=False)
            unquoted = _unquote(first)
            return _Resolved(raw, unquoted, located=False, quoted=unquoted != first)
        if first and first in doc:
            return _Resolved(raw, first, located=True)
        stripped = first.strip()
        if stripped != first and stripped and stripped in doc:
            return _Resolved(raw, stripped, located=True, repair="surrounding whitespace")
        unquoted = _unquote(stripped)
        quoted = unquoted != stripped
        if quoted and unquoted and unquoted in doc:
            return _Resolved(raw, unquoted, located=True, quoted=True)
        trimmed = unquoted.rstrip(_TRAILING_PUNCT).rstrip()
        if trimmed != unquoted and trimmed and trimmed in doc:
            return _Resolved(raw, trimmed, located=True, quoted=quoted, repair="trailing punctuation")
        # A quote left over on one side only (e.g. a comma inside quotes split the other one off).
        dequoted = trimmed.strip(_QUOTE_CHARS + " \t")
        if dequoted != trimmed and dequoted and dequoted in doc:
            repair = "trailing punctuation" if trimmed != unquoted else None
            return _Resolved(raw, dequoted, located=True, quoted=True, repair=repair)
        return _Resolved(raw, unquoted, located=False, quoted=quoted)
