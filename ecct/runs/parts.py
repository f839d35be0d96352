"""The documents a run trains, selects checkpoints and tests on: the same for an LLM run and the baseline."""

from __future__ import annotations

import logging
import random

from omegaconf import DictConfig

from ecct.data.corpus import Corpus
from ecct.data.model import Document

log = logging.getLogger(__name__)


def dev_and_train(corpus: Corpus, cfg: DictConfig) -> tuple[list[Document], list[Document]]:
    """The validation part, or (when the split has none) a seeded held-out slice of train, never both."""
    train = corpus.part("train")
    valid = corpus.part("valid")
    if valid:
        return train, valid
    shuffled = train[:]
    random.Random(cfg.data_seed).shuffle(shuffled)
    n_dev = max(1, round(len(train) * cfg.eval.dev_fraction))
    log.info("split %s has no validation part: holding out %d train documents as dev", corpus.split.name, n_dev)
    held = {doc.id for doc in shuffled[:n_dev]}
    return [d for d in train if d.id not in held], [d for d in train if d.id in held]


def run_parts(corpus: Corpus, cfg: DictConfig) -> tuple[list[Document], list[Document], list[Document]]:
    """Train, dev and test documents; dev and test cut to ``eval.max_dev_documents``/``max_test_documents``."""
    train_docs, dev_docs = dev_and_train(corpus, cfg)
    test_docs = corpus.part("test")
    if cfg.eval.get("max_test_documents"):
        test_docs = test_docs[: cfg.eval.max_test_documents]
    if cfg.eval.get("max_dev_documents"):
        dev_docs = dev_docs[: cfg.eval.max_dev_documents]
    return train_docs, dev_docs, test_docs
