"""Stage 2: a sequence classifier decides, for one (emotion, cause) candidate pair, its category or "no relation".

Its input (``ecct.baseline.pair_input``): ``[d=-1] emotion [SEP] cause``, then the whole document with both spans
marked in place (or a window of it). Its training pairs (``ecct.baseline.pairs``): the gold pairs and negatives
drawn like the test-time candidates (every predicted emotion x every predicted cause of a document).

The classifier (``ecct.baseline.pair_model``, ``stage2.pooling``) reads the encoder's states of the two marked spans
(``spans``, the default) or, like the first stage 2, the pooler over ``[CLS]`` (``cls``).

Because "none" is the majority label, the decision is the likeliest category whenever P(none) is below a threshold
(``decide_ids``); the checkpoint is chosen by the dev pair F1 at its best threshold (``pair_f1_tuned``), the rule
the pipeline applies afterwards.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    DataCollatorWithPadding,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from ecct.baseline.pair_input import CAUSE_MARKERS, EMOTION_MARKERS, encode_pairs, mark_spans, spans_lost
from ecct.baseline.pair_model import POOLINGS, is_span_pair_model, load_pair_model
from ecct.baseline.pairs import (
    NO_RELATION,
    PAIR_LABEL_ID,
    PAIR_LABELS,
    Pair,
    PairSettings,
    all_training_pairs,
    label_counts,
    training_pairs,
)
from ecct.baseline.training import HeadLearningRateTrainer, freeze_lower
from ecct.data.model import Document
from ecct.metrics.scoring import prf

__all__ = [
    "CAUSE_MARKERS",
    "EMOTION_MARKERS",
    "NO_RELATION",
    "PAIR_LABELS",
    "PAIR_LABEL_ID",
    "POOLINGS",
    "Pair",
    "PairSettings",
    "encode_pairs",
    "mark_spans",
    "training_pairs",
]

log = logging.getLogger(__name__)

BEST_METRIC = "pair_f1_tuned"


def build_dataset(
    documents: Sequence[Document], tokenizer: PreTrainedTokenizerBase, settings: PairSettings, part: str = "train"
) -> Dataset:
    pairs = all_training_pairs(documents, settings)
    rows = encode_pairs(pairs, documents, tokenizer, settings)
    counts = label_counts(pairs)
    log.info(
        "stage 2 %s: %d documents -> %d pairs: %d positive, %d negative (%s negatives); %d lost a marked span to "
        "truncation",
        part,
        len(documents),
        counts["pairs"],
        counts["positive"],
        counts["negative"],
        settings.negatives,
        spans_lost(rows),
    )
    return Dataset.from_dict({**rows, "labels": [p.label for p in pairs]})


def model_inputs(model: PreTrainedModel, features: Mapping[str, object]) -> list[str]:
    """The keys of ``features`` that the model's ``forward`` takes (a ``cls`` classifier takes no span ranges)."""
    accepted = inspect.signature(model.forward).parameters
    return [key for key in features if key in accepted]


def pair_scores(predicted: np.ndarray, gold: np.ndarray, n_gold: int | None = None) -> tuple[float, float, float]:
    """Micro precision, recall and F1 over the pairs that have a relation (a right category counts as a hit);
    ``n_gold``: the recall denominator when some gold pairs are not among the candidates."""
    hits = int(((predicted == gold) & (gold != 0)).sum())
    n_pred = int((predicted != 0).sum())
    return prf(hits, n_pred, hits, int((gold != 0).sum()) if n_gold is None else n_gold)


def relation_scores(predicted: np.ndarray, gold: np.ndarray) -> tuple[float, float, float]:
    """``pair_scores`` with any category counting as a hit: how well the classifier tells causes from non-causes."""
    return pair_scores((predicted != 0).astype(int), (gold != 0).astype(int))


def category_accuracy(probabilities: np.ndarray, gold: Sequence[int]) -> float | None:
    """On the pairs that have a relation: how often the likeliest category (none set aside) is the gold one."""
    gold_ids = np.asarray(gold)
    related = gold_ids != 0
    if not related.any():
        return None
    return float((probabilities[related, 1:].argmax(-1) + 1 == gold_ids[related]).mean())


def decide_ids(probabilities: np.ndarray, none_threshold: float | None = None) -> np.ndarray:
    """Label ids: the argmax, or (with a threshold) the likeliest category whenever P(none) is below the threshold.

    With "none" the majority of training pairs, a classifier that has learnt the categories but is unsure about
    cause-ness puts argmax on "none" for every pair; the threshold trades that off.
    """
    if none_threshold is None:
        return probabilities.argmax(-1)
    best_category = probabilities[:, 1:].argmax(-1) + 1
    return np.where(probabilities[:, 0] < none_threshold, best_category, PAIR_LABEL_ID[NO_RELATION])


def decide(probabilities: np.ndarray, none_threshold: float | None = None) -> list[str]:
    """``decide_ids`` as label names."""
    return [PAIR_LABELS[int(i)] for i in decide_ids(probabilities, none_threshold)]


def tune_none_threshold(
    probabilities: np.ndarray, gold: Sequence[int], n_gold: int | None = None
) -> tuple[float, float]:
    """The threshold on P(none) with the best pair F1 (category must match) on labelled pairs, and that F1."""
    gold_ids = np.asarray(gold)
    best = (0.5, -1.0)
    for threshold in sorted({0.5, *np.round(np.linspace(0.02, 0.98, 49), 2)}):
        f1 = pair_scores(decide_ids(probabilities, threshold), gold_ids, n_gold)[2]
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def pair_metrics(prediction: EvalPrediction) -> dict[str, float]:
    """Accuracy, micro F1 over the pairs that have a relation by argmax (``pair_f1``) and at the best threshold
    on P(none) (``pair_f1_tuned``, what selects the checkpoint), and the relation F1 at that threshold."""
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    logits = np.asarray(logits, dtype=np.float64)
    predicted = np.argmax(logits, axis=-1)
    gold = np.asarray(prediction.label_ids)
    precision, recall, f1 = pair_scores(predicted, gold)
    probabilities = _softmax(logits)
    threshold, tuned = tune_none_threshold(probabilities, gold)
    return {
        "pair_accuracy": float((predicted == gold).mean()),
        "pair_precision": precision,
        "pair_recall": recall,
        "pair_f1": f1,
        BEST_METRIC: tuned,
        "pair_threshold": threshold,
        "relation_f1_tuned": relation_scores(decide_ids(probabilities, threshold), gold)[2],
    }


def load_model(
    path: str, freeze_word_embeddings: bool = False, freeze_layers: int = 0, pooling: str | None = None
) -> PreTrainedModel:
    """Stage 2's classifier on the encoder at ``path`` (``pooling``: ``spans`` or ``cls``, see
    ``ecct.baseline.pair_model``), or a saved stage 2 as it was trained (``pooling=None``; a bare encoder: spans)."""
    if pooling is not None and pooling not in POOLINGS:
        raise ValueError(f"stage2.pooling={pooling!r}: expected one of {POOLINGS}")
    labels = {"num_labels": len(PAIR_LABELS), "id2label": dict(enumerate(PAIR_LABELS)), "label2id": dict(PAIR_LABEL_ID)}
    saved_spans = is_span_pair_model(path)
    if pooling is None:
        pooling = "spans" if saved_spans or not _is_sequence_classifier(path) else "cls"
    if pooling == "spans":
        model = load_pair_model(path, **labels)
    else:
        if saved_spans:
            raise ValueError(f"{path} holds a stage 2 with pooling=spans; it cannot be loaded with pooling=cls")
        model = AutoModelForSequenceClassification.from_pretrained(path, **labels)
    freeze_lower(model, freeze_word_embeddings, freeze_layers)
    return model


def _is_sequence_classifier(path: str) -> bool:
    """A saved ``cls`` stage 2 (``*ForSequenceClassification``), e.g. of a run before ``pooling`` existed."""
    try:
        architectures = AutoConfig.from_pretrained(path).architectures or []
    except (OSError, ValueError):
        return False
    return any(name.endswith("ForSequenceClassification") for name in architectures)


def build_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    args: TrainingArguments,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    settings: PairSettings,
    callbacks: list | None = None,
    head_learning_rate: float | None = None,
) -> Trainer:
    return HeadLearningRateTrainer(
        model=model,
        args=args,
        train_dataset=build_dataset(train_docs, tokenizer, settings, "train"),
        eval_dataset=build_dataset(dev_docs, tokenizer, settings, "dev"),
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
    settings: PairSettings,
    batch_size: int = 32,
) -> np.ndarray:
    """Softmax over ``PAIR_LABELS`` for each pair, in input order: ``[len(pairs), len(PAIR_LABELS)]``."""
    probabilities = np.zeros((len(pairs), len(PAIR_LABELS)), dtype=np.float32)
    if not pairs:
        return probabilities
    model.eval()
    encoded = encode_pairs(pairs, documents, tokenizer, settings)
    order = sorted(range(len(pairs)), key=lambda i: len(encoded["input_ids"][i]))
    device = next(model.parameters()).device
    keys = model_inputs(model, encoded)  # once: the signature is the same for every batch
    for first in range(0, len(order), batch_size):
        batch = order[first : first + batch_size]
        features = [{k: encoded[k][i] for k in keys} for i in batch]
        padded = tokenizer.pad(features, return_tensors="pt")
        logits = model(**{k: v.to(device) for k, v in padded.items()}).logits
        probabilities[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
    return probabilities


def classify_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    documents: Sequence[Document],
    settings: PairSettings,
    batch_size: int = 32,
    none_threshold: float | None = None,
) -> list[str]:
    """The predicted label (a category or ``none``) of each pair, in input order."""
    return decide(pair_probabilities(model, tokenizer, pairs, documents, settings, batch_size), none_threshold)
