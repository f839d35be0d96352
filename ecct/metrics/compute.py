"""``compute_metrics``: gold documents + predictions -> one flat dict of numbers (W&B-ready keys)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ecct.data.model import CATEGORIES, Document
from ecct.metrics.scoring import UNITS, NormTriplet, SpanCounts, WordCredit, unit_items
from ecct.metrics.semeval import is_ecf_corpus, semeval_metrics
from ecct.metrics.taxonomy import GOLD_BUCKETS, PRED_BUCKETS, classify
from ecct.metrics.text import PlacedSpan, normalize
from ecct.output.formats import TextTriplet, as_text_triplets
from ecct.output.violations import VIOLATION_KINDS

# not_verbatim is no format breach: hallucinated spans are bucketed by checking the document text (a span the
# parser recovered by stripping punctuation is reported not_verbatim too, yet is verbatim once recovered).
FORMAT_VIOLATION_KINDS: tuple[str, ...] = tuple(k for k in VIOLATION_KINDS if k != "not_verbatim")


@runtime_checkable
class PredictionLike(Protocol):
    """What ``ecct.output.parsing.ParseResult`` offers: text triplets and the violations found while parsing."""

    @property
    def text_triplets(self) -> Sequence[TextTriplet]: ...

    @property
    def violations(self) -> Sequence[Any]: ...


@dataclass
class Prediction:
    """A document's predicted triplets plus violation kinds (strings, or objects/dicts with a ``kind``)."""

    text_triplets: list[TextTriplet] = field(default_factory=list)
    violations: list[Any] = field(default_factory=list)


PredictionInput = PredictionLike | Sequence[TextTriplet]


def compute_metrics(
    gold: Sequence[Document], predictions: Mapping[str, PredictionInput], match: str = "text"
) -> dict[str, float | int]:
    """Span-level and word-level P/R/F1 for the five units, per-category scores, error buckets and counts.

    ``match="text"`` compares spans by their normalised text; ``match="offsets"`` compares them by text and
    character offsets (predicted spans are then ``PlacedSpan``s, gold spans placed from ``Document.triplets``).

    ``predictions`` maps a document id to a ``ParseResult``-like object or a plain list of text
    triplets. A gold document without a prediction counts as an empty prediction (``missing_predictions``);
    a prediction for an id not in ``gold`` is an error. Definitions: see ``ecct.metrics``.

    ECF gold (every document from the ECF reader, ``ecct.metrics.semeval.is_ecf_corpus``) adds the SemEval-2024
    Task 3 Subtask 1 scores, ``semeval/strict/w-avg-f1``, ``semeval/proportional/w-avg-f1`` and the rest of
    ``ecct.metrics.semeval.semeval_metrics``, computed on the predicted triplets as given (spans placed by their
    offsets when they are ``PlacedSpan``s, else by text).
    """
    if match not in ("text", "offsets"):
        raise ValueError(f"match={match!r}: expected text or offsets")
    gold_ids = [doc.id for doc in gold]
    if len(set(gold_ids)) != len(gold_ids):
        repeated = sorted(i for i, n in Counter(gold_ids).items() if n > 1)
        raise ValueError(f"gold has repeated document ids: {repeated[:5]}")
    unknown = sorted(set(predictions) - set(gold_ids))
    if unknown:
        raise ValueError(f"{len(unknown)} prediction(s) for documents not in gold, e.g. {unknown[:5]}")

    span = {unit: SpanCounts() for unit in UNITS}
    word = {unit: WordCredit() for unit in UNITS}
    per_category = {category: SpanCounts() for category in CATEGORIES}
    pred_buckets: Counter[str] = Counter()
    gold_buckets: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    counts = Counter({k: 0 for k in ("missing", "n_gold", "n_pred", "dup_pred", "dup_gold", "empty_pred")})
    predicted_triplets: dict[str, list[TextTriplet]] = {}

    for doc in gold:
        language = doc.language
        gold_raw = as_text_triplets(doc.triplets) if match == "text" else _placed(doc)
        gold_set = {_normalize_triplet(t, language, f"gold document {doc.id!r}") for t in gold_raw}
        if doc.id in predictions:
            prediction = _as_prediction(predictions[doc.id], doc.id)
        else:
            counts["missing"] += 1
            prediction = Prediction()
        where = f"prediction for document {doc.id!r}"
        predicted_triplets[doc.id] = list(prediction.text_triplets)
        pred_set = {_normalize_triplet(t, language, where) for t in prediction.text_triplets}
        counts["n_gold"] += len(gold_set)
        counts["n_pred"] += len(pred_set)
        counts["dup_gold"] += len(gold_raw) - len(gold_set)
        counts["dup_pred"] += len(prediction.text_triplets) - len(pred_set)
        counts["empty_pred"] += not pred_set
        violations.update(_violation_kind(v, where) for v in prediction.violations)

        for unit in UNITS:
            predicted_items, gold_items = unit_items(pred_set, unit), unit_items(gold_set, unit)
            span[unit].add(predicted_items, gold_items)
            word[unit].add(predicted_items, gold_items, language)
        for category, category_counts in per_category.items():
            category_counts.add(
                {t for t in pred_set if t.category == category}, {t for t in gold_set if t.category == category}
            )
        doc_pred_buckets, doc_gold_buckets = classify(pred_set, gold_set, normalize(doc.text, language))
        pred_buckets.update(doc_pred_buckets)
        gold_buckets.update(doc_gold_buckets)

    metrics: dict[str, float | int] = {
        "n_documents": len(gold),
        "missing_predictions": counts["missing"],
        "empty_predictions": counts["empty_pred"],
        "n_gold_triplets": counts["n_gold"],
        "n_pred_triplets": counts["n_pred"],
        "duplicate_predictions": counts["dup_pred"],
        "duplicate_gold": counts["dup_gold"],
    }
    for unit in UNITS:
        precision, recall, f1 = span[unit].scores()
        metrics |= {f"span/{unit}/precision": precision, f"span/{unit}/recall": recall, f"span/{unit}/f1": f1}
        counts_of_unit = span[unit]
        metrics |= {f"span/{unit}/tp": counts_of_unit.tp, f"span/{unit}/fp": counts_of_unit.fp}
        metrics[f"span/{unit}/fn"] = counts_of_unit.fn
    for unit in UNITS:
        precision, recall, f1 = word[unit].scores()
        metrics |= {f"word/{unit}/precision": precision, f"word/{unit}/recall": recall, f"word/{unit}/f1": f1}
    for category, category_counts in per_category.items():
        precision, recall, f1 = category_counts.scores()
        metrics |= {f"category/{category}/precision": precision, f"category/{category}/recall": recall}
        metrics[f"category/{category}/f1"] = f1
        metrics[f"category/{category}/support"] = category_counts.tp + category_counts.fn
        metrics[f"category/{category}/predicted"] = category_counts.tp + category_counts.fp
    metrics |= {f"errors/pred/{bucket}": pred_buckets[bucket] for bucket in PRED_BUCKETS}
    metrics |= {f"errors/gold/{bucket}": gold_buckets[bucket] for bucket in GOLD_BUCKETS}
    metrics["errors/format_violation"] = sum(violations[k] for k in (*FORMAT_VIOLATION_KINDS, "other"))
    metrics |= {f"violations/{kind}": violations[kind] for kind in (*VIOLATION_KINDS, "other")}
    if is_ecf_corpus(gold):
        metrics |= semeval_metrics(gold, predicted_triplets)
    return metrics


def document_counts(
    gold: Sequence[TextTriplet], predicted: Sequence[TextTriplet], language: str, unit: str = "triplet"
) -> tuple[int, int, int]:
    """One document's span-level ``(tp, n_pred, n_gold)`` for ``unit``, as ``compute_metrics`` counts it.

    Summed over a run's documents they give its ``span/<unit>/tp``, ``tp + fp`` and ``tp + fn``; the paired
    bootstrap (``ecct.metrics.bootstrap``) resamples these per-document counts.
    """
    gold_items = unit_items({_normalize_triplet(t, language, "gold") for t in gold}, unit)
    pred_items = unit_items({_normalize_triplet(t, language, "prediction") for t in predicted}, unit)
    counts = SpanCounts()
    counts.add(pred_items, gold_items)
    return counts.tp, counts.tp + counts.fp, counts.tp + counts.fn


def _placed(doc: Document) -> list[TextTriplet]:
    return [
        (
            PlacedSpan(t.emotion.text, t.emotion.start, t.emotion.end),
            PlacedSpan(t.cause.text, t.cause.start, t.cause.end),
            t.category,
        )
        for t in doc.triplets
    ]


def _as_prediction(value: Any, doc_id: str) -> Prediction:
    if isinstance(value, PredictionLike):
        return Prediction(list(value.text_triplets), list(value.violations))
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(
            f"prediction for document {doc_id!r}: expected text triplets or an object with .text_triplets and"
            f" .violations, got {type(value).__name__}"
        )
    return Prediction(list(value))


def _normalize_triplet(triplet: Any, language: str, where: str) -> NormTriplet:
    if not (isinstance(triplet, Sequence) and len(triplet) == 3 and all(isinstance(x, str) for x in triplet)):
        raise TypeError(f"{where}: expected an (emotion, cause, category) triple of strings, got {triplet!r}")
    emotion, cause, category = triplet
    # Categories compare case-insensitively: the completion writes "Fear", the corpus stores "fear".
    return NormTriplet(normalize(emotion, language), normalize(cause, language), category.strip().lower())


def _violation_kind(violation: Any, where: str) -> str:
    if isinstance(violation, str):
        kind = violation
    elif isinstance(violation, Mapping):
        kind = violation.get("kind")
    else:
        kind = getattr(violation, "kind", None)
    if not isinstance(kind, str):
        raise TypeError(f"{where}: a violation needs a kind, got {violation!r}")
    return kind if kind in VIOLATION_KINDS else "other"
