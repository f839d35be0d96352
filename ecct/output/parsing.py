"""Model text -> (emotion, cause, category) triplets plus every format violation found. Never raises.

The text is untrusted: whatever the string, ``parse_output`` returns a ``ParseResult``. It reads the two
completion formats of ``ecct.formats`` (``lines`` and ``json``) and recovers from the deviations a model
commonly makes when its intent is unambiguous, recording each one as a ``Violation``:

- ``format``: Markdown fences, prose lines, list markers (``1.``, ``-``), full-width parentheses or
  commas, quotes around spans, missing parentheses, several triplets on one line, the category written
  first or between the spans, a category variant (``joy``, ``sad``, ``悲伤``), JSON where ``lines`` was
  expected and vice versa, an entirely empty output (the model should write ``None`` / ``[]``).
  A fragment that is not a triplet at all is ignored with a ``format`` violation naming it.
- ``not_verbatim``: a span that is not a substring of ``document``. The triplet is kept (metrics score it
  as a hallucination) with its span ``None``. A span that becomes verbatim once surrounding whitespace
  (JSON), quotes or trailing punctuation are stripped is recovered and located; the stripping of
  whitespace/punctuation is still recorded as ``not_verbatim`` (detail starting with "recovered"), the
  stripping of quotes as ``format``. So a triplet is unlocated exactly when its span is ``None``.
- ``unknown_category``: the triplet is dropped.
- ``duplicate``: a repeated (emotion, cause, category) is dropped; the first occurrence stays.
- ``truncated``: the text ends inside a triplet or a JSON value. Complete triplets are kept; a triplet
  whose closing parenthesis alone is missing is kept too when its category is complete (every prefix of
  a category name that is itself a category name means the same category).
- ``empty_span``: an empty emotion or cause; the triplet is dropped.

``None``, ``none``, ``null`` and ``无`` (and ``[]``) mean "no triplet" and are no violation in the format
that writes them; ``None`` in ``json`` or ``[]`` in ``lines`` is a ``format`` violation like any other
cross-format output.

Splitting a ``lines`` triplet. Spans may contain commas (``" , "`` in English ECF, ``，`` in Chinese), so
the category is split off the right end first (it comes from a fixed set). Then every ``,``/``，`` of the
rest is a candidate emotion/cause boundary. Without a document the boundary is the first ``", "`` whose
comma is not preceded by whitespace (what ``serialize`` writes; tokenised English text writes ``" , "``
inside spans), else the first ``", "``, else the first comma of either width; when the spans are quoted
a comma between a closing and an opening quote goes first. With a document the candidate whose two parts
are both verbatim wins; ties go to the one needing fewer repairs, then to the order above (so the result
is deterministic).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from ecct.data.model import CATEGORIES, Span, find_span
from ecct.formats import CATEGORY_DISPLAY, EMPTY_MARKER, FORMATS

VIOLATION_KINDS: tuple[str, ...] = (
    "format",
    "not_verbatim",
    "unknown_category",
    "duplicate",
    "truncated",
    "empty_span",
)

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
_MAX_JSON_RESYNCS = 64
_DETAIL_CHARS = 80

_FENCE = re.compile(r"\s*(?:```|~~~)")
_LIST_MARKER = re.compile(r"(?:[-*•·+]|\d{1,3}[.)、．:：]|[(（]\d{1,3}[)）](?=\s*[(（\[]))(?=\s|[(（\[]|$)\s*")
_JSON_START = re.compile(r"\[\s*(?:[\[{\"\]]|\Z)|\{\s*(?:\"|\}|\Z)")
_JSON_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Violation:
    """One deviation from the expected output, with the offending fragment and why."""

    kind: str
    detail: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "line": self.line}


@dataclass(frozen=True)
class PredictedTriplet:
    """A triplet read from model text; spans are located in the document when verbatim, else ``None``."""

    emotion: str
    cause: str
    category: str
    emotion_span: Span | None
    cause_span: Span | None

    def as_text(self) -> tuple[str, str, str]:
        return (self.emotion, self.cause, self.category)

    def to_dict(self) -> dict[str, Any]:
        return {
            "emotion": self.emotion,
            "cause": self.cause,
            "category": self.category,
            "emotion_span": self.emotion_span.to_dict() if self.emotion_span else None,
            "cause_span": self.cause_span.to_dict() if self.cause_span else None,
        }


@dataclass
class ParseResult:
    """De-duplicated triplets in output order, and every violation met on the way."""

    triplets: list[PredictedTriplet] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    @property
    def text_triplets(self) -> list[tuple[str, str, str]]:
        return [t.as_text() for t in self.triplets]

    def to_dict(self) -> dict[str, Any]:
        return {"triplets": [t.to_dict() for t in self.triplets], "violations": [v.to_dict() for v in self.violations]}


def parse_output(text: str, document: str | None = None, fmt: str = "lines") -> ParseResult:
    """Read model ``text`` written in ``fmt``; locate spans in ``document`` when given. Never raises on ``text``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; expected one of {FORMATS}")
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    parser = _Parser(document if isinstance(document, str) else None, fmt)
    try:
        parser.run(text)
    except Exception as err:  # the contract is "never raises": a parser bug becomes a visible violation
        parser.violation("format", f"parser error on this output ({type(err).__name__}: {err}); triplets so far kept")
    return parser.result()


# --------------------------------------------------------------------------------------------------------------
# Helpers on single fragments


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


# --------------------------------------------------------------------------------------------------------------
# The parser


class _Parser:
    def __init__(self, document: str | None, fmt: str):
        self.document = document
        self.fmt = fmt
        self.violations: list[Violation] = []
        self.found: list[tuple[_Fields, int | None]] = []
        self.saw_empty_marker = False
        self.fence_seen = False
        self.empty_marker_line: int | None = None
        self.lines_output_line: int | None = None  # first line read as lines-format output
        self._cache: dict[tuple[str, bool], _Resolved] = {}
        self._text = ""

    # ---- bookkeeping -----------------------------------------------------------------------------------------

    def violation(self, kind: str, detail: str, line: int | None = None) -> None:
        self.violations.append(Violation(kind, detail, line))

    def _line_of(self, offset: int) -> int:
        return self._text.count("\n", 0, offset) + 1

    def result(self) -> ParseResult:
        if self.saw_empty_marker and self.found:
            self.violation("format", f"{EMPTY_MARKER!r} written alongside triplets; ignored", self.empty_marker_line)
        triplets: list[PredictedTriplet] = []
        seen: set[tuple[str, str, str]] = set()
        for fields, line in self.found:
            triplet = self._locate(fields)
            key = triplet.as_text()
            if key in seen:
                self.violation("duplicate", f"repeated triplet {key!r} removed", line)
                continue
            seen.add(key)
            triplets.append(triplet)
        return ParseResult(triplets=triplets, violations=self.violations)

    def _locate(self, fields: _Fields) -> PredictedTriplet:
        emotion_span = cause_span = None
        if self.document is not None:
            if fields.emotion.located:
                emotion_span = find_span(self.document, fields.emotion.text)
            if fields.cause.located:
                hint = emotion_span.start if emotion_span else None
                cause_span = find_span(self.document, fields.cause.text, hint)
        return PredictedTriplet(fields.emotion.text, fields.cause.text, fields.category, emotion_span, cause_span)

    def _accept(self, fields: _Fields, line: int | None, fragment: str) -> None:
        """Record one triplet (or why it is dropped): its format notes become one ``format`` violation."""
        notes = list(fields.notes)
        notes += [f"quotes around the {role} span removed" for role, span in self._roles(fields) if span.quoted]
        if notes:
            self.violation("format", f"{_shorten(fragment)}: {'; '.join(dict.fromkeys(notes))}", line)
        for role, span in self._roles(fields):
            if not span.text:
                self.violation("empty_span", f"{_shorten(fragment)}: empty {role} span; triplet dropped", line)
                return
        if self.document is not None:
            for role, span in self._roles(fields):
                if span.repair:
                    detail = f"recovered {role} span {_shorten(span.raw)} as {_shorten(span.text)}"
                    self.violation("not_verbatim", f"{detail} by stripping {span.repair}", line)
                elif not span.located:
                    self.violation("not_verbatim", f"{role} span {_shorten(span.text)} is not in the document", line)
        self.found.append((fields, line))

    @staticmethod
    def _roles(fields: _Fields) -> tuple[tuple[str, _Resolved], tuple[str, _Resolved]]:
        return (("emotion", fields.emotion), ("cause", fields.cause))

    # ---- span resolution -------------------------------------------------------------------------------------

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

    # ---- top level -------------------------------------------------------------------------------------------

    def run(self, text: str) -> None:
        self._text = text
        if not text.strip():
            expected = EMPTY_MARKER if self.fmt == "lines" else "[]"
            self.violation("format", f"empty output; the model should write {expected!r} when there is no triplet", 1)
            return
        start = self._find_json_start(text)
        if start is None:
            self.parse_lines(text, 0)
        else:
            self.parse_lines(text[:start], 0, at_end=False)
            end = self.parse_json_region(text, start)
            if self.fmt == "lines":
                self.violation("format", "JSON output where the lines format was expected", self._line_of(start))
            self.parse_lines(text[end:], end)
        if self.fmt == "json" and (self.lines_output_line is not None or self.saw_empty_marker):
            line = self.lines_output_line or self.empty_marker_line
            self.violation("format", "lines-format output where JSON was expected", line)

    def _find_json_start(self, text: str) -> int | None:
        """Offset of the first line that opens a JSON value, or None."""
        offset = 0
        for line in text.split("\n"):
            stripped = line.lstrip()
            if stripped[:1] in ("[", "{"):
                start = offset + len(line) - len(stripped)
                if _JSON_START.match(text, start):
                    return start
            offset += len(line) + 1
        return None

    # ---- lines format ----------------------------------------------------------------------------------------

    def parse_lines(self, segment: str, offset: int, at_end: bool = True) -> None:
        """Read ``segment`` (starting at ``offset`` of the whole text) line by line."""
        if not segment.strip():
            return
        first_line = self._line_of(offset)
        lines = segment.split("\n")
        last_content = max(i for i, line in enumerate(lines) if line.strip())
        for i, raw_line in enumerate(lines):
            line = raw_line.strip()
            if not line:
                continue
            lineno = first_line + i
            if _FENCE.match(line):
                if not self.fence_seen:
                    self.violation("format", "Markdown code fence removed", lineno)
                    self.fence_seen = True
                continue
            if _is_empty_marker(line):
                if not self.saw_empty_marker:
                    self.saw_empty_marker, self.empty_marker_line = True, lineno
                if self.fmt == "lines" and line not in (EMPTY_MARKER, "none", "无"):
                    self.violation("format", f"{_shorten(line)} read as {EMPTY_MARKER!r}", lineno)
                continue
            self._parse_line(line, lineno, truncatable=at_end and i == last_content)

    def _parse_line(self, line: str, lineno: int, truncatable: bool) -> None:
        notes: list[str] = []
        marker = _LIST_MARKER.match(line)
        if marker and marker.end() < len(line):
            notes.append(f"list marker {marker.group().strip()!r} removed")
            line = line[marker.end() :]
        count_before = len(self.found)
        accepted, pending = self._scan_brackets(line, lineno, truncatable)
        if accepted:
            for fields, fragment in accepted:
                fields.notes[:0] = notes
                self._accept(fields, lineno, fragment)
            for kind, detail in pending:
                self.violation(kind, detail, lineno)
            if len(accepted) > 1:
                self.violation("format", f"{len(accepted)} triplets on one line", lineno)
        else:
            # No bracketed triplet: the whole line may be one without parentheses (or spans with brackets).
            bare = self._split_fields(line, bare=True)
            if isinstance(bare, _Fields):
                bare.notes[:0] = [*notes, "missing parentheses"]
                self._accept(bare, lineno, line)
            elif pending:
                for kind, detail in pending:
                    self.violation(kind, detail, lineno)
            else:
                self.violation("format", f"{_shorten(line)}: not a triplet; ignored", lineno)
        if len(self.found) > count_before and self.lines_output_line is None:
            self.lines_output_line = lineno

    def _scan_brackets(
        self, line: str, lineno: int, truncatable: bool
    ) -> tuple[list[tuple[_Fields, str]], list[tuple[str, str]]]:
        """Every bracketed triplet of ``line``; also the violations for what is not one."""
        accepted: list[tuple[_Fields, str]] = []
        pending: list[tuple[str, str]] = []
        leftovers: list[str] = []
        openers, closers = _positions(line, _OPENERS), _positions(line, _CLOSERS)
        pos, n = 0, len(line)
        while pos < n:
            next_opener = bisect_left(openers, pos)
            if next_opener == len(openers):
                leftovers.append(line[pos:])
                break
            opener = openers[next_opener]
            leftovers.append(line[pos:opener])
            closer = self._find_closer(line, opener, closers)
            if closer == -1:
                content, fragment, pos = line[opener + 1 :], line[opener:], n
            else:
                content, fragment, pos = line[opener + 1 : closer], line[opener : closer + 1], closer + 1
            fields = self._split_fields(content, bare=False)
            if closer == -1 and truncatable:
                keep = "kept: its category is complete" if isinstance(fields, _Fields) else "dropped"
                pending.append(("truncated", f"output ends inside a triplet {_shorten(fragment)}; {keep}"))
            elif closer == -1 and isinstance(fields, _Fields):
                fields.notes.append("missing closing parenthesis")
            if isinstance(fields, _Rejected):
                if not (closer == -1 and truncatable):
                    pending.append((fields.kind, f"{_shorten(fragment)}: {fields.detail}"))
                continue
            brackets = line[opener] + (line[closer] if closer != -1 else "")
            if brackets not in ("()", "("):
                fields.notes.append(f"brackets {brackets!r} instead of '()'")
            accepted.append((fields, fragment))
        outside = "".join(leftovers).strip(_BETWEEN_TRIPLETS + ".。")
        if outside and accepted:
            pending.append(("format", f"text outside the triplets ignored: {_shorten(outside)}"))
        return accepted, pending

    @staticmethod
    def _find_closer(line: str, opener: int, closers: list[int]) -> int:
        """The bracket closing the triplet opened at ``opener``: the first one preceded by a category,
        else the first at a triplet boundary (end of line or before another triplet), else the first one.
        """
        first = bisect_left(closers, opener + 1)
        for closer in closers[first : first + _MAX_CLOSERS]:
            separator = max(line.rfind(",", opener + 1, closer), line.rfind("，", opener + 1, closer))
            if separator != -1 and _category_of(line[separator + 1 : closer], loose=True):
                return closer
            after = closer + 1
            while after < len(line) and line[after] in _BETWEEN_TRIPLETS:
                after += 1
            if after == len(line) or line[after] in _OPENERS:
                return closer
        return closers[first] if first < len(closers) else -1

    def _split_fields(self, content: str, bare: bool) -> _Fields | _Rejected:
        """(emotion, cause, category) from the inside of one triplet; ``bare``: no brackets around it."""
        seps = [i for i, ch in enumerate(content) if ch in _SEPARATORS]
        if len(seps) < 2:
            return _Rejected("format", "not an (emotion, cause, Category) triplet; ignored")
        notes: list[str] = []
        last = seps[-1]
        category_piece = content[last + 1 :]
        category = _category_of(category_piece, loose=True)
        if category is not None:
            if content[last : last + 2] != ", ":
                notes.append(f"separator {content[last]!r} before the category")
            head, head_seps = content[:last], seps[:-1]
        else:
            bounds = [-1, *seps]
            index = next(
                (k for k in range(len(seps)) if _category_of(content[bounds[k] + 1 : seps[k]], loose=False)), None
            )
            if index is None:
                if bare:
                    return _Rejected("format", "not a triplet; ignored")
                return _Rejected("unknown_category", f"unknown category {_shorten(category_piece)}; triplet dropped")
            category_piece = content[bounds[index] + 1 : seps[index]]
            category = _category_of(category_piece, loose=False)
            assert category is not None
            if index == 0:
                notes.append("category written first")
                head, head_seps = content[seps[0] + 1 :], [s - seps[0] - 1 for s in seps[1:]]
            else:
                notes.append("category written between the spans")
                emotion = self.resolve(content[: seps[index - 1]], exact=False)
                cause = self.resolve(content[seps[index] + 1 :], exact=False)
                return _Fields(emotion, cause, category, notes + self._category_notes(category_piece, category))
        notes += self._category_notes(category_piece, category)
        emotion, cause, boundary = self._split_head(head, head_seps)
        if head[boundary : boundary + 2] != ", ":
            notes.append(f"separator {head[boundary]!r} between the spans")
        return _Fields(emotion, cause, category, notes)

    @staticmethod
    def _category_notes(piece: str, category: str) -> list[str]:
        written = piece.strip()
        if written == CATEGORY_DISPLAY[category]:
            return []
        return [f"category written {written!r}, read as {CATEGORY_DISPLAY[category]!r}"]

    def _split_head(self, head: str, seps: list[int]) -> tuple[_Resolved, _Resolved, int]:
        """Split ``head`` into emotion and cause at one of ``seps`` (see the module docstring for the rule)."""
        ranked = sorted(seps, key=lambda p: (self._boundary_rank(head, p), p))[:_MAX_SPLITS]
        best: tuple[tuple[int, int, int], _Resolved, _Resolved, int] | None = None
        for order, p in enumerate(ranked):
            emotion = self.resolve(head[:p], exact=False)
            cause = self.resolve(head[p + 1 :], exact=False)
            score = (int(emotion.located) + int(cause.located), -(emotion.repairs + cause.repairs), -order)
            if best is None or score > best[0]:
                best = (score, emotion, cause, p)
            if self.document is None or (score[0] == 2 and score[1] == 0):
                break  # without a document the first ranked boundary wins; with one, nothing beats a clean hit
        assert best is not None
        return best[1], best[2], best[3]

    @staticmethod
    def _boundary_rank(head: str, p: int) -> int:
        """Lower is likelier the boundary ``serialize`` wrote (", " right after the emotion)."""
        standard = head[p] == "," and head[p + 1 : p + 2] == " "
        glued = p > 0 and not head[p - 1].isspace()
        if head[:1] in _QUOTE_PAIRS:
            before, after = p - 1, p + 1
            while before >= 0 and head[before].isspace():
                before -= 1
            while after < len(head) and head[after].isspace():
                after += 1
            if before >= 0 and after < len(head) and head[before] in _QUOTE_CHARS and head[after] in _QUOTE_CHARS:
                return 0
        if standard and glued:
            return 1
        if standard:
            return 2
        return 3

    # ---- json format -----------------------------------------------------------------------------------------

    def parse_json_region(self, text: str, start: int) -> int:
        """Read consecutive JSON values from ``start``; return where they end."""
        pos, n = start, len(text)
        while pos < n:
            if text[pos] in " \t\r\n,":
                pos += 1
                continue
            if not _JSON_START.match(text, pos):
                break
            pos = self._json_list(text, pos) if text[pos] == "[" else self._json_top_object(text, pos)
        return pos

    def _json_list(self, text: str, start: int) -> int:
        items: list[tuple[Any, int]] = []
        pos, n = start + 1, len(text)
        resyncs = 0
        end = n
        while True:
            while pos < n and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= n:
                self.violation("truncated", "output ends inside a JSON list", self._line_of(start))
                break
            if text[pos] == "]":
                end = pos + 1
                break
            try:
                value, after = _JSON_DECODER.raw_decode(text, pos)
            except (json.JSONDecodeError, RecursionError):
                if _unterminated(text, pos):
                    self.violation(
                        "truncated", f"output ends inside a JSON value {_shorten(text[pos:])}", self._line_of(pos)
                    )
                    break
                resyncs += 1
                next_item = text.find("{", pos + 1)
                close = text.find("]", pos + 1)
                fragment_end = min(i for i in (next_item, close, n) if i != -1)
                self.violation(
                    "format", f"malformed JSON item {_shorten(text[pos:fragment_end])} ignored", self._line_of(pos)
                )
                if resyncs > _MAX_JSON_RESYNCS or fragment_end == n:
                    break
                if fragment_end == close:
                    end = close + 1
                    break
                pos = next_item
                continue
            items.append((value, pos))
            pos = after
        if len(items) == 3 and all(isinstance(v, str) for v, _ in items):
            # ["afraid", "x", "Fear"]: one triplet written as a list.
            self._json_item([v for v, _ in items], self._line_of(start))
        else:
            for value, at in items:
                self._json_item(value, self._line_of(at))
        return end

    def _json_top_object(self, text: str, start: int) -> int:
        try:
            value, end = _JSON_DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            if _unterminated(text, start):
                self.violation(
                    "truncated", f"output ends inside a JSON object {_shorten(text[start:])}", self._line_of(start)
                )
                return len(text)
            newline = text.find("\n", start)
            end = len(text) if newline == -1 else newline
            self.violation("format", f"malformed JSON {_shorten(text[start:end])} ignored", self._line_of(start))
            return end
        line = self._line_of(start)
        if isinstance(value, dict) and not _triplet_keys(value):
            lists = [v for v in value.values() if isinstance(v, list)]
            if len(lists) == 1:
                self.violation("format", "triplet list wrapped in an object", line)
                for item in lists[0]:
                    self._json_item(item, line)
                return end
        if self.fmt == "json":
            self.violation("format", "a JSON object where a list of objects was expected", line)
        self._json_item(value, line)
        return end

    def _json_item(self, value: Any, line: int) -> None:
        fragment = _compact_json(value)
        shown = _shorten(fragment)
        notes: list[str] = []
        if isinstance(value, dict):
            keys = _triplet_keys(value)
            if keys is None:
                self.violation("format", f"{shown}: not an emotion/cause/category object; ignored", line)
                return
            emotion, cause, category = (value[k] for k in keys)
            if keys != ("emotion", "cause", "category"):
                notes.append(f"keys {list(keys)!r} read as emotion/cause/category")
        elif isinstance(value, list) and len(value) == 3:
            notes.append("a list where an object was expected")
            emotion, cause, category = value
        else:
            self.violation("format", f"{shown}: not a triplet; ignored", line)
            return
        if not all(isinstance(v, str) for v in (emotion, cause, category)):
            self.violation("format", f"{shown}: emotion, cause and category must be strings; ignored", line)
            return
        canonical = _category_of(category, loose=True)
        if canonical is None:
            if isinstance(value, list) and _category_of(emotion, loose=False):
                canonical, emotion, cause, category = _category_of(emotion, loose=False), cause, category, emotion
                notes.append("category written first")
            else:
                self.violation("unknown_category", f"{shown}: unknown category {_shorten(category)}; dropped", line)
                return
        assert canonical is not None
        notes += self._category_notes(category, canonical)
        fields = _Fields(self.resolve(emotion, exact=True), self.resolve(cause, exact=True), canonical, notes)
        self._accept(fields, line, fragment)


def _triplet_keys(value: dict[Any, Any]) -> tuple[str, str, str] | None:
    """The keys holding emotion, cause and category (case-insensitive, a few aliases), or None."""
    by_name = {str(k).strip().lower(): k for k in value}

    def pick(*names: str) -> str | None:
        return next((by_name[name] for name in names if name in by_name), None)

    emotion = pick("emotion", "emotion_span", "emotion span")
    cause = pick("cause", "cause_span", "cause span")
    category = pick("category", "emotion_category", "emotion category", "label")
    if emotion is None or cause is None or category is None:
        return None
    return (emotion, cause, category)


def _compact_json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return "<unprintable JSON value>"


def _unterminated(text: str, start: int) -> bool:
    """True when ``text`` ends inside the JSON value starting at ``start`` (open string or bracket)."""
    depth = 0
    in_string = escaped = False
    for ch in text[start:]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth <= 0:
                return False
    return in_string or depth > 0
