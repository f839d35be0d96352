"""Model text -> (emotion, cause, category) triplets plus every format violation found. Never raises.

The text is untrusted: whatever the string, ``parse_output`` returns a ``ParseResult``. It reads the two
completion formats of ``ecct.output.formats`` (``lines`` and ``json``) and recovers from the deviations a model
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

from dataclasses import dataclass, field
from typing import Any

from ecct.data.model import Span, find_span
from ecct.output.formats import EMPTY_MARKER, FORMATS
from ecct.output.json_values import _JSON_START, _JsonReader
from ecct.output.lines import _LinesReader
from ecct.output.spans import _Fields, _Resolved, _shorten, _SpanResolver
from ecct.output.violations import VIOLATION_KINDS, Violation

__all__ = ["VIOLATION_KINDS", "ParseResult", "PredictedTriplet", "Violation", "parse_output"]


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


class _Parser(_SpanResolver, _LinesReader, _JsonReader):
    """One parse: the reading itself is split by format (``lines``, ``json_values``) and span (``spans``)."""

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
