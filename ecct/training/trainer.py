"""SFTTrainer with generation-based dev evaluation: each evaluation decodes the dev documents, parses and scores them.

The metrics are merged into the dict ``evaluate`` returns, so ``metric_for_best_model="selection_score"`` selects
checkpoints by dev triplet F1 and ``load_best_model_at_end`` restores the best adapter before testing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trl import SFTTrainer

from ecct.data.model import Document
from ecct.decoding.generate import GenerationSettings
from ecct.inference.documents import predict_documents
from ecct.metrics import compute_metrics
from ecct.prompts import PromptConfig
from ecct.training.compact_head import set_compact_lm_head
from ecct.training.shared_prefix import SharedPrefixMixin, SharedPrefixSettings

log = logging.getLogger(__name__)

BEST_METRIC = "selection_score"
# Dev sets are small, so span-level triplet F1 moves in coarse steps and ties are common; word-level triplet F1
# breaks the ties (its weight is too small to ever outvote a span-level difference).
TIE_BREAK_WEIGHT = 1e-3


def selection_score(scores: dict[str, float | int]) -> float:
    return float(scores["span/triplet/f1"]) + TIE_BREAK_WEIGHT * float(scores["word/triplet/f1"])


# Headline numbers logged at every evaluation (the full dict, raw counts included, goes to dev_metrics.jsonl).
LOGGED_SUFFIXES = ("/precision", "/recall", "/f1")
LOGGED_PREFIXES = ("errors/", "violations/")


class GenerativeEvalSFTTrainer(SharedPrefixMixin, SFTTrainer):
    """TRL's SFTTrainer + shared-prefix batches (``ecct.training.shared_prefix``) + an LM head that scores only
    labelled positions on CPU too (``ecct.training.compact_head``) + generation-based dev metrics."""

    def __init__(
        self,
        *args: Any,
        dev_documents: Sequence[Document],
        prompt_config: PromptConfig,
        generation: GenerationSettings,
        dev_log: Path | None = None,
        shared_prefix: SharedPrefixSettings | None = None,
        compact_lm_head: bool = True,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        set_compact_lm_head(compact_lm_head)
        if not compact_lm_head:
            log.info("compact_lm_head off: TRL's fused LM head scores every position on CPU")
        self.configure_shared_prefix(shared_prefix or SharedPrefixSettings())
        self.dev_documents = list(dev_documents)
        self.prompt_config = prompt_config
        self.generation = generation
        self.dev_log = dev_log

    def evaluate(
        self,
        eval_dataset: Any = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> dict[str, float]:
        metrics = super().evaluate(eval_dataset, ignore_keys=ignore_keys, metric_key_prefix=metric_key_prefix)
        if not self.dev_documents:
            return metrics
        _, parsed = predict_documents(
            self.model,
            self.processing_class,
            self.dev_documents,
            self.prompt_config,
            self.generation,
            description=f"dev generation @ step {self.state.global_step}",
        )
        scores = compute_metrics(self.dev_documents, parsed)
        generated = {
            f"{metric_key_prefix}_{key}": float(value)
            for key, value in scores.items()
            if key.endswith(LOGGED_SUFFIXES) or key.startswith(LOGGED_PREFIXES)
        }
        generated[f"{metric_key_prefix}_{BEST_METRIC}"] = selection_score(scores)
        metrics.update(generated)
        self.log(generated)
        log.info(
            "step %d: dev triplet F1 %.4f (word-level %.4f)",
            self.state.global_step,
            scores["span/triplet/f1"],
            scores["word/triplet/f1"],
        )
        if self.dev_log is not None and self.is_world_process_zero():
            with self.dev_log.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": self.state.global_step, **scores}) + "\n")
        return metrics
