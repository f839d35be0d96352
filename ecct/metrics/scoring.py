"""Units, span-level (exact) counts, word-level (overlap) credits and the P/R/F1 formula."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ecct.metrics.assignment import max_weight_assignment
from ecct.metrics.text import lcs_length, may_overlap, tokens

UNITS: tuple[str, ...] = ("emotion", "cause", "emotion_category", "pair", "triplet")


@dataclass(frozen=True, order=True)
class NormTriplet:
    """A triplet after whitespace normalisation (see ``ecct.metrics.text.normalize``)."""

    emotion: str
    cause: str
    category: str


Item = tuple[tuple[str, ...], str | None]
"""One unit instance: its normalised spans, and its category when the unit has one."""


def unit_items(triplets: Iterable[NormTriplet], unit: str) -> set[Item]:
    """The distinct instances of ``unit`` in a document's triplets (a set: duplicates collapse)."""
    if unit == "emotion":
        return {((t.emotion,), None) for t in triplets}
    if unit == "cause":
        return {((t.cause,), None) for t in triplets}
    if unit == "emotion_category":
        return {((t.emotion,), t.category) for t in triplets}
    if unit == "pair":
        return {((t.emotion, t.cause), None) for t in triplets}
    if unit == "triplet":
        return {((t.emotion, t.cause), t.category) for t in triplets}
    raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")


@dataclass
class SpanCounts:
    """Exact-match counts, summed over documents (micro average)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set, gold: set) -> None:
        hits = len(predicted & gold)
        self.tp += hits
        self.fp += len(predicted) - hits
        self.fn += len(gold) - hits

    def scores(self) -> tuple[float, float, float]:
        return prf(self.tp, self.tp + self.fp, self.tp, self.tp + self.fn)


@dataclass
class WordCredit:
    """Overlap credit, summed over documents: P = precision_credit / n_pred, R = recall_credit / n_gold."""

    precision_credit: float = 0.0
    recall_credit: float = 0.0
    n_pred: int = 0
    n_gold: int = 0

    def add(self, predicted: set[Item], gold: set[Item], language: str) -> None:
        self.n_pred += len(predicted)
        self.n_gold += len(gold)
        # Exact matches pair with each other first (credit 1 + 1), so word-level scores never fall below
        # span-level ones; only the rest is aligned by overlap.
        exact = predicted & gold
        self.precision_credit += len(exact)
        self.recall_credit += len(exact)
        pred_items = sorted(predicted - exact, key=_item_order)
        gold_items = sorted(gold - exact, key=_item_order)
        if not pred_items or not gold_items:
            return
        pred_tokens = [_item_tokens(item, language) for item in pred_items]
        gold_tokens = [_item_tokens(item, language) for item in gold_items]
        gold_pairs = list(zip(gold_items, gold_tokens, strict=True))
        credits = [
            [
                match_credit(p_item[1], p_tok, g_item[1], g_tok) if _places_overlap(p_item, g_item) else (0.0, 0.0)
                for g_item, g_tok in gold_pairs
            ]
            for p_item, p_tok in zip(pred_items, pred_tokens, strict=True)
        ]
        # Align to maximise precision credit + recall credit: the matching that maximises P*n_pred + R*n_gold.
        weights = [[p + r for p, r in row] for row in credits]
        for i, j in max_weight_assignment(weights):
            self.precision_credit += credits[i][j][0]
            self.recall_credit += credits[i][j][1]

    def scores(self) -> tuple[float, float, float]:
        return prf(self.precision_credit, self.n_pred, self.recall_credit, self.n_gold)


def match_credit(
    pred_category: str | None, pred_spans: list[list[str]], gold_category: str | None, gold_spans: list[list[str]]
) -> tuple[float, float]:
    """(precision credit, recall credit) of matching one predicted item with one gold item.

    Zero unless the categories are equal and every span shares at least one token. Otherwise,
    with o = LCS(pred span, gold span) per span, the credits are the products over the spans of
    o / |pred span| and o / |gold span|.
    """
    if pred_category != gold_category:
        return 0.0, 0.0
    precision, recall = 1.0, 1.0
    for pred_span, gold_span in zip(pred_spans, gold_spans, strict=True):
        overlap = lcs_length(pred_span, gold_span)
        if overlap == 0:
            return 0.0, 0.0
        precision *= overlap / len(pred_span)
        recall *= overlap / len(gold_span)
    return precision, recall


def prf(precision_hits: float, n_pred: float, recall_hits: float, n_gold: float) -> tuple[float, float, float]:
    """P, R, F1; a zero denominator gives 0, and F1 = 0 when P + R = 0 (so TP = 0 means P = R = F1 = 0)."""
    precision = precision_hits / n_pred if n_pred else 0.0
    recall = recall_hits / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _places_overlap(pred: Item, gold: Item) -> bool:
    """Placed spans (offset scoring) only get overlap credit where their character ranges overlap."""
    return all(may_overlap(p, g) for p, g in zip(pred[0], gold[0], strict=True))


def _item_tokens(item: Item, language: str) -> list[list[str]]:
    return [tokens(span, language) for span in item[0]]


def _item_order(item: Item) -> tuple[tuple[str, ...], str]:
    # Sets have no order; sorting makes the alignment (and so any tie-break) reproducible.
    return item[0], item[1] or ""
