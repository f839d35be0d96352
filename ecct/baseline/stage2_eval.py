"""Stage 2 on the test part: its triplets from each source of spans, with a P(none) threshold chosen on dev.

Sources of candidate spans: ``pipeline`` (stage 1's predictions; metrics ``test/...``) and ``gold_spans`` (the
annotated spans; ``test/gold_spans/...``). Besides, ``pairs`` scores stage 2 alone on the test part's labelled
pairs built like its training pairs (``test/stage2/pairs/...``): the gold pairs against near-miss clauses, so
cause-ness (``relation``) and categories (``category_accuracy``) are measured apart from stage 1.

``stage2.none_threshold``: null (argmax), a number, or ``dev``: with ``stage2.tune_threshold_on: candidates`` each
source gets the threshold with the best pair F1 on the dev part's candidates of the same source (stage 1's dev
predictions for ``pipeline``; recall over every dev gold triplet, as the test metric counts it), and ``pairs`` the
best on the dev training pairs; with ``training_pairs`` (the first baseline) every source takes the latter.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ecct.baseline import stage2
from ecct.baseline.bio import CAUSE, EMOTION, KindSpan, as_span
from ecct.baseline.pairs import (
    NO_RELATION,
    Pair,
    PairSettings,
    all_training_pairs,
    candidate_labels,
    candidate_pairs,
    n_gold_triplets,
)
from ecct.data.model import Document, Span
from ecct.output.parsing import ParseResult, PredictedTriplet

log = logging.getLogger(__name__)

TUNE_ON = ("candidates", "training_pairs")
SpansByDoc = Mapping[str, Sequence[KindSpan]]


@dataclass
class Scored:
    """Stage 2's probabilities on a set of labelled pairs of ``documents``."""

    documents: Sequence[Document]
    pairs: list[Pair]
    probabilities: np.ndarray
    labels: list[int]
    dropped: int = 0
    n_gold: int | None = None  # recall denominator (None: the labelled pairs')


@dataclass
class Evaluation:
    """Test triplets per source, and the ``stage2/...`` and ``test/stage2/...`` numbers for metrics.json."""

    results: dict[str, dict[str, ParseResult]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scorer:
    """A trained stage 2 with what it needs to score pairs."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    settings: PairSettings
    batch_size: int = 32
    max_pairs_per_document: int | None = None

    def probabilities(self, pairs: Sequence[Pair], documents: Sequence[Document]) -> np.ndarray:
        return stage2.pair_probabilities(self.model, self.tokenizer, pairs, documents, self.settings, self.batch_size)

    def candidates(self, documents: Sequence[Document], spans: SpansByDoc) -> Scored:
        """Every emotion x cause of ``spans`` per document (``candidate_pairs``), labelled from the gold triplets."""
        pairs: list[Pair] = []
        dropped = 0
        for i, doc in enumerate(documents):
            emotions, causes = split_kinds(doc.text, spans.get(doc.id, []))
            doc_pairs, n_dropped = candidate_pairs(i, emotions, causes, self.max_pairs_per_document)
            pairs += doc_pairs
            dropped += n_dropped
        labels = candidate_labels(pairs, documents)
        probabilities = self.probabilities(pairs, documents)
        return Scored(documents, pairs, probabilities, labels, dropped, n_gold_triplets(documents))

    def training_pairs(self, documents: Sequence[Document]) -> Scored:
        pairs = all_training_pairs(documents, self.settings)
        return Scored(documents, pairs, self.probabilities(pairs, documents), [p.label for p in pairs])


def split_kinds(text: str, spans: Sequence[KindSpan]) -> tuple[list[Span], list[Span]]:
    emotions = [as_span(text, s) for s in spans if s.kind == EMOTION]
    causes = [as_span(text, s) for s in spans if s.kind == CAUSE]
    return emotions, causes


def tune(scored: Scored) -> tuple[float, float]:
    """The best threshold on ``scored`` and its pair F1."""
    return stage2.tune_none_threshold(scored.probabilities, scored.labels, scored.n_gold)


def triplets(scored: Scored, threshold: float | None) -> tuple[dict[str, ParseResult], dict[str, int]]:
    """The pairs decided to be related, as triplets per document id (one per distinct text, in text order)."""
    found: dict[str, list[PredictedTriplet]] = {doc.id: [] for doc in scored.documents}
    for pair, label in zip(scored.pairs, stage2.decide(scored.probabilities, threshold), strict=True):
        if label != NO_RELATION:
            triplet = PredictedTriplet(pair.emotion.text, pair.cause.text, label, pair.emotion, pair.cause)
            found[scored.documents[pair.doc_index].id].append(triplet)
    results = {doc_id: ParseResult(distinct_in_text_order(ts)) for doc_id, ts in found.items()}
    counts = {
        "candidates": len(scored.pairs),
        "candidates_dropped": scored.dropped,
        "triplets": sum(len(r.triplets) for r in results.values()),
    }
    return results, counts


def distinct_in_text_order(found: Sequence[PredictedTriplet]) -> list[PredictedTriplet]:
    """Text order; one triplet per distinct text (a span repeated elsewhere in the text scores the same)."""
    ordered = sorted(found, key=lambda t: (t.emotion_span.start, t.cause_span.start, t.category))  # type: ignore[union-attr]
    seen: set[tuple[str, str, str]] = set()
    distinct = []
    for triplet in ordered:
        if triplet.as_text() not in seen:
            seen.add(triplet.as_text())
            distinct.append(triplet)
    return distinct


def pair_metrics(scored: Scored, threshold: float | None) -> dict[str, Any]:
    """``test/stage2/pairs/...``: pair P/R/F1 (category must match), relation P/R/F1, category accuracy."""
    gold = np.asarray(scored.labels, dtype=int)
    predicted = stage2.decide_ids(scored.probabilities, threshold)
    metrics: dict[str, Any] = {"n": len(scored.pairs), "positive": int((gold != 0).sum())}
    for name, values in (
        ("", stage2.pair_scores(predicted, gold)),
        ("relation/", stage2.relation_scores(predicted, gold)),
    ):
        metrics |= dict(zip((f"{name}precision", f"{name}recall", f"{name}f1"), values, strict=True))
    metrics["category_accuracy"] = stage2.category_accuracy(scored.probabilities, gold)
    return metrics


def _setting(value: Any) -> float | str | None:
    if value is None or value == "dev":
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"stage2.none_threshold={value!r}: expected a number, null or dev") from None


def evaluate(
    scorer: Scorer,
    dev_docs: Sequence[Document],
    test_docs: Sequence[Document],
    spans: Mapping[str, Mapping[str, SpansByDoc]],
    none_threshold: Any = "dev",
    tune_on: str = "candidates",
) -> Evaluation:
    """Stage 2 on the test part for each source in ``spans`` (``{source: {"dev": ..., "test": ...}}``) and on
    the test part's training-like pairs (see the module doc)."""
    if tune_on not in TUNE_ON:
        raise ValueError(f"stage2.tune_threshold_on={tune_on!r}: expected one of {TUNE_ON}")
    setting = _setting(none_threshold)
    out = Evaluation()
    dev_pairs = scorer.training_pairs(dev_docs) if setting == "dev" else None
    pairs_choice = _choose(setting, dev_pairs, None, "dev training pairs")
    for source, parts in spans.items():
        dev = scorer.candidates(dev_docs, parts["dev"]) if setting == "dev" and tune_on == "candidates" else None
        threshold, dev_f1 = _choose(setting, dev, pairs_choice, f"dev {source} candidates")
        results, counts = triplets(scorer.candidates(test_docs, parts["test"]), threshold)
        out.results[source] = results
        prefix = "" if source == "pipeline" else f"{source}/"
        out.metrics |= {
            f"stage2/{prefix}none_threshold": threshold,
            f"stage2/{prefix}dev_pair_f1_at_threshold": dev_f1,
            **{f"test/stage2/{prefix}{k}": v for k, v in counts.items()},
        }
    probe = scorer.training_pairs(test_docs)
    out.metrics |= {
        "stage2/pairs/none_threshold": pairs_choice[0],
        "stage2/pairs/dev_pair_f1_at_threshold": pairs_choice[1],
        **{f"test/stage2/pairs/{k}": v for k, v in pair_metrics(probe, pairs_choice[0]).items()},
    }
    return out


def _choose(
    setting: float | str | None,
    dev: Scored | None,
    fallback: tuple[float | None, float | None] | None,
    what: str,
) -> tuple[float | None, float | None]:
    """The threshold (and its dev F1) for one source: fixed, argmax, tuned on ``dev``, or ``fallback``."""
    if setting != "dev":
        return setting, None  # type: ignore[return-value]
    if dev is None:
        assert fallback is not None, "a tuned threshold needs dev pairs"
        return fallback
    threshold, f1 = tune(dev)
    if f1 <= 0 and fallback is not None:
        log.warning(
            "stage 2: no hit among %d %s at any threshold: the dev training pairs' one instead", len(dev.pairs), what
        )
        return fallback
    log.info("stage 2: P(none) threshold %.2f chosen on %d %s (pair F1 %.4f)", threshold, len(dev.pairs), what, f1)
    return threshold, f1
