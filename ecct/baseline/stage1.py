"""Stage 1: a BIO token classifier tags emotion and cause spans; predictions map back to character offsets.

A document is tokenized once without special tokens. Documents longer than ``max_length - 2`` tokens are cut into
windows of that many tokens that overlap by ``stride`` tokens; each window becomes ``[CLS] window [SEP]``. At
prediction time every token takes its logits from the window in which it sits farthest from an edge (the most
context on both sides), so the document is decoded as one sequence and spans may cross window boundaries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import (
    AutoModelForTokenClassification,
    DataCollatorForTokenClassification,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from ecct.baseline.bio import (
    IGNORE,
    LABELS,
    KindSpan,
    char_tags,
    decode_labels,
    document_spans,
    encode_labels,
)
from ecct.baseline.training import HeadLearningRateTrainer, freeze_lower
from ecct.data.model import Document
from ecct.metrics.scoring import prf

log = logging.getLogger(__name__)

BEST_METRIC = "span_f1"


@dataclass(frozen=True)
class Tokenized:
    """A document's tokens without special tokens: ids and character offsets."""

    ids: list[int]
    offsets: list[tuple[int, int]]


@dataclass(frozen=True)
class Window:
    """Tokens ``[start, end)`` of document ``doc_index``, fed to the model as ``[CLS] tokens [SEP]``."""

    doc_index: int
    start: int
    end: int


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[Tokenized]:
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    return [
        Tokenized(list(ids), [tuple(o) for o in offsets])  # type: ignore[misc]
        for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
    ]


def window_bounds(n_tokens: int, max_length: int, stride: int) -> list[tuple[int, int]]:
    """Token ranges of the windows covering ``n_tokens``: ``max_length - 2`` tokens each, ``stride`` shared."""
    size = max_length - 2
    if size < 1 or not 0 <= stride < size:
        raise ValueError(f"need max_length > 2 and 0 <= stride < max_length - 2, got {max_length=} {stride=}")
    if n_tokens <= size:
        return [(0, n_tokens)]
    bounds, start = [], 0
    while True:
        end = min(start + size, n_tokens)
        bounds.append((start, end))
        if end == n_tokens:
            return bounds
        start = end - stride


def windows_of(tokenized: Sequence[Tokenized], max_length: int, stride: int) -> list[Window]:
    return [
        Window(i, start, end)
        for i, doc in enumerate(tokenized)
        for start, end in window_bounds(len(doc.ids), max_length, stride)
    ]


def _window_features(tokenizer: PreTrainedTokenizerBase, doc: Tokenized, window: Window) -> dict[str, list[int]]:
    ids = [tokenizer.cls_token_id, *doc.ids[window.start : window.end], tokenizer.sep_token_id]
    return {"input_ids": ids, "attention_mask": [1] * len(ids)}


def build_dataset(
    documents: Sequence[Document], tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int
) -> tuple[Dataset, list[Window], list[Tokenized]]:
    """Labelled windows of ``documents`` (gold spans as BIO), plus the windows and tokens to decode them."""
    tokenized = tokenize(tokenizer, [doc.text for doc in documents])
    windows = windows_of(tokenized, max_length, stride)
    rows: dict[str, list[Any]] = {"input_ids": [], "attention_mask": [], "labels": []}
    labels_by_doc = [
        encode_labels(tok.offsets, char_tags(len(doc.text), document_spans(doc)))
        for doc, tok in zip(documents, tokenized, strict=True)
    ]
    for window in windows:
        features = _window_features(tokenizer, tokenized[window.doc_index], window)
        rows["input_ids"].append(features["input_ids"])
        rows["attention_mask"].append(features["attention_mask"])
        rows["labels"].append([IGNORE, *labels_by_doc[window.doc_index][window.start : window.end], IGNORE])
    log.info("stage 1: %d documents -> %d windows (max_length %d)", len(documents), len(windows), max_length)
    return Dataset.from_dict(rows), windows, tokenized


def span_metrics(documents: Sequence[Document], windows: Sequence[Window], tokenized: Sequence[Tokenized]) -> Any:
    """A ``compute_metrics`` for the Trainer: micro span F1 of the windows' predicted vs gold BIO spans."""

    def compute(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        predicted_ids = np.argmax(logits, axis=-1)
        tp = n_pred = n_gold = 0
        for row, window in enumerate(windows):
            doc, tok = documents[window.doc_index], tokenized[window.doc_index]
            offsets = tok.offsets[window.start : window.end]
            gold_labels = prediction.label_ids[row][1 : 1 + len(offsets)]
            pred_labels = [
                p if g != IGNORE else IGNORE for p, g in zip(predicted_ids[row][1:], gold_labels, strict=False)
            ]
            gold = set(decode_labels(offsets, [int(g) for g in gold_labels], doc.text))
            pred = set(decode_labels(offsets, [int(p) for p in pred_labels], doc.text))
            tp, n_pred, n_gold = tp + len(gold & pred), n_pred + len(pred), n_gold + len(gold)
        precision, recall, f1 = prf(tp, n_pred, tp, n_gold)
        return {"span_precision": precision, "span_recall": recall, BEST_METRIC: f1}

    return compute


def load_model(path: str, freeze_word_embeddings: bool = False, freeze_layers: int = 0) -> PreTrainedModel:
    model = AutoModelForTokenClassification.from_pretrained(
        path,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    # The 250k-row vocabulary matrix holds 80% of e5-small's weights; most rows never occur in the corpus.
    freeze_lower(model, freeze_word_embeddings, freeze_layers)
    return model


def build_trainer(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    args: TrainingArguments,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    max_length: int,
    stride: int,
    callbacks: list[Any] | None = None,
    head_learning_rate: float | None = None,
) -> Trainer:
    train_set, _, _ = build_dataset(train_docs, tokenizer, max_length, stride)
    dev_set, dev_windows, dev_tokens = build_dataset(dev_docs, tokenizer, max_length, stride)
    return HeadLearningRateTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=dev_set,
        processing_class=tokenizer,
        data_collator=DataCollatorForTokenClassification(tokenizer),
        compute_metrics=span_metrics(dev_docs, dev_windows, dev_tokens),
        callbacks=callbacks,
        head_learning_rate=head_learning_rate,
    )


@torch.no_grad()
def predict_spans(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    documents: Sequence[Document],
    max_length: int,
    stride: int,
    batch_size: int = 16,
) -> dict[str, list[KindSpan]]:
    """Emotion and cause spans per document id, windows merged by the most-central rule."""
    model.eval()
    tokenized = tokenize(tokenizer, [doc.text for doc in documents])
    windows = windows_of(tokenized, max_length, stride)
    best: list[np.ndarray] = [np.full(len(t.ids), -1, dtype=np.int64) for t in tokenized]  # chosen label per token
    margin: list[np.ndarray] = [np.full(len(t.ids), -1, dtype=np.int64) for t in tokenized]  # its distance to edges
    order = sorted(range(len(windows)), key=lambda i: windows[i].end - windows[i].start)  # length-sorted batches
    device = next(model.parameters()).device
    for first in range(0, len(order), batch_size):
        batch_windows = [windows[i] for i in order[first : first + batch_size]]
        features = [_window_features(tokenizer, tokenized[w.doc_index], w) for w in batch_windows]
        padded = tokenizer.pad(features, return_tensors="pt")
        logits = model(**{k: v.to(device) for k, v in padded.items()}).logits.cpu().numpy()
        for row, window in enumerate(batch_windows):
            labels = logits[row, 1 : 1 + window.end - window.start].argmax(-1)
            positions = np.arange(window.start, window.end)
            distance = np.minimum(positions - window.start, window.end - 1 - positions)
            better = distance > margin[window.doc_index][positions]
            best[window.doc_index][positions[better]] = labels[better]
            margin[window.doc_index][positions[better]] = distance[better]
    return {
        doc.id: decode_labels(tok.offsets, [int(x) for x in labels], doc.text)
        for doc, tok, labels in zip(documents, tokenized, best, strict=True)
    }
