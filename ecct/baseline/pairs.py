"""Stage 2's (emotion, cause) pairs: the settings of its input, training pairs, test-time candidates, labels.

At test time the candidates of a document are every predicted emotion x every predicted cause
(``candidate_pairs``). Training pairs (``training_pairs``) imitate them, with ``negatives``:

- ``candidates`` (the default): per gold emotion, every gold cause of the document (its own: its category; the
  other emotions': ``none``) and every clause within ``max_clause_distance`` clauses of the emotion's clause
  (``null``: all) that overlaps none of its causes (``none``); in the emotion's own clause the parts before and
  after the emotion stand in for the clause, since a predicted cause never overlaps a predicted emotion. So the
  model sees the near-miss clauses stage 1 proposes, at every clause distance the input can tell apart.
- ``nearest`` (the first baseline): the gold pairs, the other emotions' causes, and the ``negatives_per_emotion``
  whole clauses nearest (in characters) to the emotion that overlap neither it nor its causes.

``negatives_per_emotion`` caps the clause negatives of one emotion, nearest first (``candidates``: null = no cap).
Clauses are ``ecct.baseline.rules.split_clauses`` (the corpus's clause punctuation, the rule floor's clauses).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecct.baseline.rules import clause_index, split_clauses
from ecct.data.model import CATEGORIES, Document, Span

NO_RELATION = "none"
PAIR_LABELS: tuple[str, ...] = (NO_RELATION, *CATEGORIES)
PAIR_LABEL_ID = {label: i for i, label in enumerate(PAIR_LABELS)}
CONTEXTS = ("document", "window")
NEGATIVES = ("candidates", "nearest")


@dataclass(frozen=True)
class Pair:
    """A candidate (emotion, cause) pair of one document, with its label id when known."""

    doc_index: int
    emotion: Span
    cause: Span
    label: int = -1


@dataclass(frozen=True)
class PairSettings:
    """What stage 2 reads and trains on (``stage2.*`` keys of the same names; see conf/baseline/config.yaml)."""

    max_length: int = 256
    context: str = "document"  # document: the whole text (or the largest centred window); window: context_chars
    context_chars: int = 60
    distance: bool = True  # prefix the first segment with the clause distance, e.g. [d=-1]
    max_clause_distance: int | None = 3  # clause negatives within it; the prefix writes farther ones as +-it
    negatives: str = "candidates"
    negatives_per_emotion: int | None = None

    def __post_init__(self) -> None:
        if self.context not in CONTEXTS:
            raise ValueError(f"stage2.context={self.context!r}: expected one of {CONTEXTS}")
        if self.negatives not in NEGATIVES:
            raise ValueError(f"stage2.negatives={self.negatives!r}: expected one of {NEGATIVES}")
        if self.negatives == "nearest" and self.negatives_per_emotion is None:
            raise ValueError("stage2.negatives=nearest needs a number for stage2.negatives_per_emotion (e.g. 2)")
        if self.max_clause_distance is not None and self.max_clause_distance < 0:
            raise ValueError(f"stage2.max_clause_distance={self.max_clause_distance}: expected >= 0 or null")
        if not isinstance(self.distance, bool):
            raise ValueError(f"stage2.distance={self.distance!r}: expected true or false")

    @classmethod
    def from_config(cls, stage_cfg: Mapping[str, Any]) -> PairSettings:
        """The settings from ``stage2``; absent keys keep the defaults above."""
        names = cls.__dataclass_fields__
        return cls(**{name: stage_cfg[name] for name in names if name in stage_cfg})


def overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def clause_distance(clauses: Sequence[Span], emotion: Span, cause: Span) -> int:
    """Clause of the cause's start - clause of the emotion's start (the rule floor's position; 0 without clauses)."""
    if not clauses:
        return 0
    return clause_index(clauses, cause.start) - clause_index(clauses, emotion.start)


def _char_gap(emotion: Span, other: Span) -> int:
    return min(abs(other.start - emotion.end), abs(emotion.start - other.end))


def _strip(text: str, start: int, end: int) -> Span | None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    offset = start + piece.index(stripped)
    return Span(offset, offset + len(stripped), stripped)


def clause_candidates(document: Document, emotion: Span, max_distance: int | None) -> list[Span]:
    """The clauses within ``max_distance`` of the emotion's clause, the emotion's own clause as its parts before
    and after the emotion; nearest first (clause distance, then characters)."""
    clauses = split_clauses(document.text, document.language)
    spans = []
    for clause in clauses:
        distance = clause_distance(clauses, emotion, clause)
        if max_distance is not None and abs(distance) > max_distance:
            continue
        if not overlaps(clause, emotion):
            spans.append((abs(distance), clause))
            continue
        for start, end in ((clause.start, emotion.start), (emotion.end, clause.end)):
            part = _strip(document.text, start, end) if start < end else None
            if part is not None:
                spans.append((abs(distance), part))
    spans.sort(key=lambda item: (item[0], _char_gap(emotion, item[1]), item[1].start))
    return [span for _, span in spans]


def _nearest_clauses(document: Document, emotion: Span) -> list[Span]:
    clauses = [c for c in split_clauses(document.text, document.language) if not overlaps(c, emotion)]
    return sorted(clauses, key=lambda c: (_char_gap(emotion, c), c.start))


def training_pairs(doc_index: int, document: Document, settings: PairSettings) -> list[Pair]:
    """Gold pairs, the other emotions' causes and clause negatives (see the module doc), without duplicates."""
    gold = {(t.emotion, t.cause): t.category for t in document.triplets}
    emotions = sorted({t.emotion for t in document.triplets})
    causes = sorted({t.cause for t in document.triplets})
    pairs = [Pair(doc_index, e, c, PAIR_LABEL_ID[k]) for (e, c), k in sorted(gold.items())]
    pairs += [Pair(doc_index, e, c, 0) for e in emotions for c in causes if (e, c) not in gold]
    for emotion in emotions:
        own = [c for (e, c) in gold if e == emotion]
        if settings.negatives == "nearest":
            found = _nearest_clauses(document, emotion)
        else:
            found = clause_candidates(document, emotion, settings.max_clause_distance)
        free = [s for s in found if not any(overlaps(s, c) for c in own) and (emotion, s) not in gold]
        if settings.negatives_per_emotion is not None:
            free = free[: settings.negatives_per_emotion]
        pairs += [Pair(doc_index, emotion, s, 0) for s in free]
    unique: dict[tuple[int, Span, Span], Pair] = {}
    for pair in pairs:  # the first label wins: a gold pair is never relabelled "none"
        unique.setdefault((pair.doc_index, pair.emotion, pair.cause), pair)
    return list(unique.values())


def all_training_pairs(documents: Sequence[Document], settings: PairSettings) -> list[Pair]:
    return [p for i, doc in enumerate(documents) for p in training_pairs(i, doc, settings)]


def label_counts(pairs: Sequence[Pair]) -> dict[str, int]:
    """``pairs``, ``positive`` (a category) and ``negative`` (``none``) counts, and one count per label."""
    counts = Counter(PAIR_LABELS[p.label] for p in pairs if p.label >= 0)
    negative = counts.get(NO_RELATION, 0)
    return {"pairs": len(pairs), "positive": sum(counts.values()) - negative, "negative": negative, **counts}


def candidate_pairs(
    doc_index: int, emotions: Sequence[Span], causes: Sequence[Span], limit: int | None
) -> tuple[list[Pair], int]:
    """All emotion x cause pairs (identical spans excluded), nearest first, at most ``limit``; and how many dropped."""
    pairs = [Pair(doc_index, e, c) for e in emotions for c in causes if (e.start, e.end) != (c.start, c.end)]
    pairs.sort(key=lambda p: (_char_gap(p.emotion, p.cause), p.cause))
    if limit is None or len(pairs) <= limit:
        return pairs, 0
    return pairs[:limit], len(pairs) - limit


def candidate_labels(pairs: Sequence[Pair], documents: Sequence[Document]) -> list[int]:
    """The gold label id of each candidate: the category of a gold triplet with the same span texts, else none
    (span-level triplet F1 matches texts, so a repeated span scores like the annotated one)."""
    gold: dict[tuple[int, str, str], int] = {}
    for i, doc in enumerate(documents):
        for t in doc.triplets:
            gold.setdefault((i, t.emotion.text, t.cause.text), PAIR_LABEL_ID[t.category])
    return [gold.get((p.doc_index, p.emotion.text, p.cause.text), 0) for p in pairs]


def n_gold_triplets(documents: Sequence[Document]) -> int:
    """Distinct gold (emotion text, cause text, category) triplets: the recall denominator of span triplet F1."""
    return sum(len({(t.emotion.text, t.cause.text, t.category) for t in doc.triplets}) for doc in documents)
