"""Stage 2: a sequence classifier decides, for one (emotion, cause) candidate pair, its category or "no relation".

Input (one sequence pair): ``emotion [SEP] cause`` first, then the document around the two spans with the emotion
wrapped in ``<e> </e>`` and the cause in ``<c> </c>`` (plain-text markers, so any tokenizer reads them without new
embeddings). The document part is a character window from ``context_chars`` before the earlier span to
``context_chars`` after the later one (99% of Gui causes lie within 50 characters of their emotion). Truncation
takes tokens from the longer of the two parts (normally the window), so the span texts reach the model whole unless
they alone exceed ``max_length``.

Training pairs per document: every gold triplet (label = its category); every gold emotion with a gold cause of
another emotion (label "none"); and, per gold emotion, the ``negatives_per_emotion`` clauses nearest to it that
neither overlap it nor any of its causes ("none": the near-miss causes stage 1 is likely to propose).
At test time the candidates are all predicted emotions x all predicted causes of a document.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from ecct.baseline.training import HeadLearningRateTrainer, freeze_lower
from ecct.data.model import CATEGORIES, Document, Span
from ecct.metrics.scoring import prf

log = logging.getLogger(__name__)

NO_RELATION = "none"
PAIR_LABELS: tuple[str, ...] = (NO_RELATION, *CATEGORIES)
PAIR_LABEL_ID = {label: i for i, label in enumerate(PAIR_LABELS)}
BEST_METRIC = "pair_f1"
EMOTION_MARKERS = ("<e>", "</e>")
CAUSE_MARKERS = ("<c>", "</c>")
# Clause boundaries for negative sampling: Chinese and Western sentence/clause punctuation.
CLAUSE_END = re.compile(r"[，。！？；：,.!?;:]+")


@dataclass(frozen=True)
class Pair:
    """A candidate (emotion, cause) pair of one document, with its label id when known."""

    doc_index: int
    emotion: Span
    cause: Span
    label: int = -1


def clauses(text: str) -> list[Span]:
    """Maximal stretches between clause punctuation (the punctuation itself excluded), stripped, non-empty."""
    spans, start = [], 0
    for match in [*CLAUSE_END.finditer(text), None]:
        end = match.start() if match else len(text)
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            offset = start + piece.index(stripped)
            spans.append(Span(offset, offset + len(stripped), stripped))
        if match:
            start = match.end()
    return spans


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def training_pairs(doc_index: int, document: Document, negatives_per_emotion: int) -> list[Pair]:
    """Gold pairs, cross pairs of different emotions, and the nearest non-cause clauses (see the module doc)."""
    gold = {(t.emotion, t.cause): t.category for t in document.triplets}
    emotions = sorted({t.emotion for t in document.triplets})
    causes = sorted({t.cause for t in document.triplets})
    pairs = [Pair(doc_index, e, c, PAIR_LABEL_ID[k]) for (e, c), k in sorted(gold.items())]
    pairs += [Pair(doc_index, e, c, 0) for e in emotions for c in causes if (e, c) not in gold]
    if negatives_per_emotion > 0:
        text_clauses = clauses(document.text)
        for emotion in emotions:
            own = [c for (e, c) in gold if e == emotion]
            free = [s for s in text_clauses if not _overlaps(s, emotion) and not any(_overlaps(s, c) for c in own)]
            free.sort(key=lambda s: (min(abs(s.start - emotion.end), abs(emotion.start - s.end)), s.start))
            pairs += [Pair(doc_index, emotion, s, 0) for s in free[:negatives_per_emotion] if (emotion, s) not in gold]
    return list(dict.fromkeys(pairs))


def _marked_context(text: str, emotion: Span, cause: Span, context_chars: int) -> str:
    low = max(0, min(emotion.start, cause.start) - context_chars)
    high = min(len(text), max(emotion.end, cause.end) + context_chars)
    inserts = [
        (emotion.start, 1, EMOTION_MARKERS[0]),
        (emotion.end, 0, EMOTION_MARKERS[1]),
        (cause.start, 1, CAUSE_MARKERS[0]),
        (cause.end, 0, CAUSE_MARKERS[1]),
    ]
    pieces, cursor = [], low
    for position, _, marker in sorted(inserts):  # closing markers sort before opening ones at the same position
        pieces += [text[cursor:position], f" {marker} "]
        cursor = position
    pieces.append(text[cursor:high])
    return "".join(pieces)


def encode_pairs(
    pairs: Sequence[Pair],
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    context_chars: int,
) -> dict[str, list[list[int]]]:
    """Token ids of ``emotion [SEP] cause`` + the marked document window, truncated to ``max_length``."""
    sep = f" {tokenizer.sep_token} "
    first = [f"{p.emotion.text}{sep}{p.cause.text}" for p in pairs]
    second = [_marked_context(documents[p.doc_index].text, p.emotion, p.cause, context_chars) for p in pairs]
    # longest_first takes tokens from the longer part, which is the window unless the spans themselves are long (a
    # predicted cause can be a whole paragraph); only_second would raise on such a pair.
    encoded = tokenizer(first, second, truncation="longest_first", max_length=max_length, verbose=False)
    return {key: list(encoded[key]) for key in ("input_ids", "attention_mask")}


def build_dataset(
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    context_chars: int,
    negatives_per_emotion: int,
) -> Dataset:
    pairs = [p for i, doc in enumerate(documents) for p in training_pairs(i, doc, negatives_per_emotion)]
    rows = encode_pairs(pairs, documents, tokenizer, max_length, context_chars)
    labels = [p.label for p in pairs]
    n_none = labels.count(PAIR_LABEL_ID[NO_RELATION])
    log.info("stage 2: %d documents -> %d pairs (%d no relation)", len(documents), len(pairs), n_none)
    return Dataset.from_dict({**rows, "labels": labels})


def pair_scores(predicted: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    """Micro precision, recall and F1 over the pairs that have a relation (a right category counts as a hit)."""
    hits = int(((predicted == gold) & (gold != 0)).sum())
    n_pred, n_gold = int((predicted != 0).sum()), int((gold != 0).sum())
    return prf(hits, n_pred, hits, n_gold)


def pair_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """Accuracy, and micro F1 over the pairs that have a relation (``pair_scores``)."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    predicted = np.argmax(logits, axis=-1)
    gold = np.asarray(prediction.label_ids)
    precision, recall, f1 = pair_scores(predicted, gold)
    return {
        "pair_accuracy": float((predicted == gold).mean()),
        "pair_precision": precision,
        "pair_recall": recall,
        BEST_METRIC: f1,
    }


def load_model(path: str, freeze_word_embeddings: bool = False, freeze_layers: int = 0) -> PreTrainedModel:
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        num_labels=len(PAIR_LABELS),
        id2label=dict(enumerate(PAIR_LABELS)),
        label2id=dict(PAIR_LABEL_ID),
    )
    freeze_lower(model, freeze_word_embeddings, freeze_layers)
    return model


def build_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    args: TrainingArguments,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    max_length: int,
    context_chars: int,
    negatives_per_emotion: int,
    callbacks: list | None = None,
    head_learning_rate: float | None = None,
) -> Trainer:
    train_set = build_dataset(train_docs, tokenizer, max_length, context_chars, negatives_per_emotion)
    dev_set = build_dataset(dev_docs, tokenizer, max_length, context_chars, negatives_per_emotion)
    return HeadLearningRateTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=dev_set,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=pair_metrics,
        callbacks=callbacks,
        head_learning_rate=head_learning_rate,
    )


@torch.no_grad()
def pair_probabilities(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    documents: Sequence[Document],
    max_length: int,
    context_chars: int,
    batch_size: int = 32,
) -> np.ndarray:
    """Softmax over ``PAIR_LABELS`` for each pair, in input order: ``[len(pairs), len(PAIR_LABELS)]``."""
    probabilities = np.zeros((len(pairs), len(PAIR_LABELS)), dtype=np.float32)
    if not pairs:
        return probabilities
    model.eval()
    encoded = encode_pairs(pairs, documents, tokenizer, max_length, context_chars)
    order = sorted(range(len(pairs)), key=lambda i: len(encoded["input_ids"][i]))
    device = next(model.parameters()).device
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        features = [{k: encoded[k][i] for k in encoded} for i in batch]
        padded = tokenizer.pad(features, return_tensors="pt")
        logits = model(**{k: v.to(device) for k, v in padded.items()}).logits
        probabilities[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probabilities


def decide_ids(probabilities: np.ndarray, none_threshold: float | None = None) -> np.ndarray:
    """Label ids: the argmax, or (with a threshold) the likeliest category whenever P(none) is below the threshold.

    With "none" the majority of candidates (two in three Gui training pairs), a classifier that has learnt the
    categories but is unsure about cause-ness puts argmax on "none" for every pair; the threshold trades that off.
    """
    if none_threshold is None:
        return probabilities.argmax(-1)
    best_category = probabilities[:, 1:].argmax(-1) + 1
    return np.where(probabilities[:, 0] < none_threshold, best_category, PAIR_LABEL_ID[NO_RELATION])


def decide(probabilities: np.ndarray, none_threshold: float | None = None) -> list[str]:
    """``decide_ids`` as label names."""
    return [PAIR_LABELS[int(i)] for i in decide_ids(probabilities, none_threshold)]


def tune_none_threshold(probabilities: np.ndarray, gold: Sequence[int]) -> tuple[float, float]:
    """The threshold on P(none) with the best pair F1 (category must match) on labelled pairs, and that F1."""
    gold_ids = np.asarray(gold)
    best = (0.5, -1.0)
    for threshold in sorted({0.5, *np.round(np.linspace(0.02, 0.98, 49), 2)}):
        f1 = pair_scores(decide_ids(probabilities, threshold), gold_ids)[2]
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best


def classify_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    documents: Sequence[Document],
    max_length: int,
    context_chars: int,
    batch_size: int = 32,
    none_threshold: float | None = None,
) -> list[str]:
    """The predicted label (a category or ``none``) of each pair, in input order."""
    probabilities = pair_probabilities(model, tokenizer, pairs, documents, max_length, context_chars, batch_size)
    return decide(probabilities, none_threshold)
