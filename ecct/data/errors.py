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
    """What a lenient reader skipped, counted by reason (nothing is dropped silently).

    ``notes`` count what a reader kept but could not turn into triplets, in strict and lenient mode alike
    (they are corpus facts, not errors): a RECCON cause marked as not in the dialogue, an Emotion-Stimulus
    sentence without a cause span, an emotion outside the six categories, an ECF conversation without labels.
    They do not add to ``total``.
    """

    origin: str
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    notes: Counter[str] = field(default_factory=Counter)

    def add(self, error: DataError) -> None:
        self.counts[error.reason] += 1
        self.examples.setdefault(error.reason, str(error))

    def note(self, what: str, n: int = 1) -> None:
        self.notes[what] += n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __str__(self) -> str:
        if not self.total:
            lines = [f"{self.origin}: nothing skipped"]
        else:
            lines = [f"{self.origin}: skipped {self.total} record(s)"]
            lines += [f"  {n:>6}  {reason}  (e.g. {self.examples[reason]})" for reason, n in self.counts.most_common()]
        if self.notes:
            lines.append(f"{self.origin}: read, with notes (counted; not errors):")
            lines += [f"  {n:>6}  {what}" for what, n in self.notes.most_common()]
        return "\n".join(lines)
