"""Errors and skip accounting shared by every reader."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


class DataError(ValueError):
    """A bad input record: names the file, the line or record, and what is wrong."""

    def __init__(self, origin: str, location: str, problem: str, reason: str | None = None):
        self.origin = origin
        self.location = location
        self.problem = problem
        # A short, countable reason key used by lenient reading ("span not in text", ...).
        self.reason = reason or problem.split(":")[0]
        super().__init__(f"{origin}: {location}: {problem}")


@dataclass
class SkipReport:
    """What a lenient reader skipped, counted by reason (nothing is dropped silently)."""

    origin: str
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, error: DataError) -> None:
        self.counts[error.reason] += 1
        self.examples.setdefault(error.reason, str(error))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        if not self.total:
            return f"{self.origin}: nothing skipped"
        lines = [f"{self.origin}: skipped {self.total} record(s)"]
        lines += [f"  {n:>6}  {reason}  (e.g. {self.examples[reason]})" for reason, n in self.counts.most_common()]
        return "\n".join(lines)
