"""The ``lines`` format: one ``(emotion, cause, Category)`` per line, with the repairs the parser docstring lists."""

from __future__ import annotations

from bisect import bisect_left

from ecct.output.formats import CATEGORY_DISPLAY, EMPTY_MARKER
from ecct.output.spans import (
    _BETWEEN_TRIPLETS,
    _CLOSERS,
    _FENCE,
    _LIST_MARKER,
    _MAX_CLOSERS,
    _MAX_SPLITS,
    _OPENERS,
    _QUOTE_CHARS,
    _QUOTE_PAIRS,
    _SEPARATORS,
    _category_of,
    _Fields,
    _is_empty_marker,
    _positions,
    _Rejected,
    _Resolved,
    _shorten,
)


class _LinesReader:
    """Lines-format reading for ``_Parser`` (which provides ``violation``, ``resolve`` and ``_accept``)."""

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
