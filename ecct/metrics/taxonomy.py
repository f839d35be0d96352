"""Error taxonomy: every predicted and every gold triplet of a document lands in exactly one bucket."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ecct.metrics.scoring import NormTriplet
from ecct.metrics.text import occurrences

PRED_BUCKETS: tuple[str, ...] = ("correct", "hallucinated_span", "wrong_category", "partial_overlap", "spurious")
GOLD_BUCKETS: tuple[str, ...] = ("found", "wrong_category", "partial_overlap", "missed")


class _Positions:
    """Where normalised spans occur in a document's normalised text (cached: spans repeat across triplets)."""

    def __init__(self, text: str):
        self.text = text
        self._cache: dict[str, list[int]] = {}

    def of(self, span: str) -> list[int]:
        if span not in self._cache:
            self._cache[span] = occurrences(self.text, span)
        return self._cache[span]

    def verbatim(self, span: str) -> bool:
        return bool(self.of(span))

    def overlap(self, a: str, b: str) -> bool:
        """Some occurrence of ``a`` shares at least one character position with some occurrence of ``b``."""
        return any(sa < sb + len(b) and sb < sa + len(a) for sa in self.of(a) for sb in self.of(b))


def classify(
    predicted: Iterable[NormTriplet], gold: Iterable[NormTriplet], normalized_text: str
) -> tuple[Counter[str], Counter[str]]:
    """Bucket counts (predicted side, gold side) for one document; inputs are de-duplicated triplets.

    Predicted triplet, first bucket that applies:
      correct            the triplet is in gold;
      hallucinated_span  its emotion or cause is empty or not found verbatim in the document;
      wrong_category     its emotion and cause equal those of a gold triplet, the category differs;
      partial_overlap    its emotion and its cause each overlap (share a character position in the
                         document with) the emotion and the cause of one gold triplet, category ignored;
      spurious           none of the above.
    Gold triplet: found (predicted exactly) > wrong_category (its spans predicted with another
    category) > partial_overlap (overlapped as above by a prediction) > missed.
    A bucket is a property of the item, not a one-to-one pairing: two predictions overlapping one
    gold triplet are both ``partial_overlap``.
    """
    predicted = set(predicted)
    gold = set(gold)
    positions = _Positions(normalized_text)
    gold_pairs = {(g.emotion, g.cause) for g in gold}

    def overlaps(p: NormTriplet, g: NormTriplet) -> bool:
        return positions.overlap(p.emotion, g.emotion) and positions.overlap(p.cause, g.cause)

    pred_counts: Counter[str] = Counter({bucket: 0 for bucket in PRED_BUCKETS})
    verbatim_predictions = []
    for p in predicted:
        if p in gold:
            bucket = "correct"
        elif not (positions.verbatim(p.emotion) and positions.verbatim(p.cause)):
            bucket = "hallucinated_span"
        elif (p.emotion, p.cause) in gold_pairs:
            bucket = "wrong_category"
        elif any(overlaps(p, g) for g in gold):
            bucket = "partial_overlap"
        else:
            bucket = "spurious"
        pred_counts[bucket] += 1
        if bucket != "hallucinated_span":
            verbatim_predictions.append(p)

    predicted_pairs = {(p.emotion, p.cause) for p in predicted}
    gold_counts: Counter[str] = Counter({bucket: 0 for bucket in GOLD_BUCKETS})
    for g in gold:
        if g in predicted:
            bucket = "found"
        elif (g.emotion, g.cause) in predicted_pairs:
            bucket = "wrong_category"
        elif any(overlaps(p, g) for p in verbatim_predictions):
            bucket = "partial_overlap"
        else:
            bucket = "missed"
        gold_counts[bucket] += 1
    return pred_counts, gold_counts
