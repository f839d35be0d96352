"""The ``json`` format: a list of ``{"emotion", "cause", "category"}`` objects, read value by value with resyncs."""

from __future__ import annotations

import json
import re
from typing import Any

from ecct.output.spans import _category_of, _Fields, _shorten

_MAX_JSON_RESYNCS = 64
_JSON_START = re.compile(r"\[\s*(?:[\[{\"\]]|\Z)|\{\s*(?:\"|\}|\Z)")
_JSON_DECODER = json.JSONDecoder()


class _JsonReader:
    """JSON-format reading for ``_Parser`` (which provides ``violation``, ``resolve`` and ``_accept``)."""

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

    def _ends_inside(self, text: str, start: int, what: str) -> bool:
        """True (and a ``truncated`` violation) when the text ends inside the JSON value at ``start``."""
        if not _unterminated(text, start):
            return False
        self.violation("truncated", f"output ends inside a JSON {what} {_shorten(text[start:])}", self._line_of(start))
        return True

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
                if self._ends_inside(text, pos, "value"):
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
            if self._ends_inside(text, start, "object"):
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
