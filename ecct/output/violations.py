"""The kinds of problem ``ecct.output.parsing`` records in model text (see its docstring), and one record of one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VIOLATION_KINDS: tuple[str, ...] = (
    "format",
    "not_verbatim",
    "unknown_category",
    "duplicate",
    "truncated",
    "empty_span",
)


@dataclass(frozen=True)
class Violation:
    """One deviation from the expected output, with the offending fragment and why."""

    kind: str
    detail: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "line": self.line}
