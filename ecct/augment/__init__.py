"""LLM data augmentation of the training part: mark spans, rewrite with an LLM, filter, cache, add by ratio.

Modules: ``marking`` (auxiliary labels), ``prompts`` (the rewrite prompt), ``generators`` (local transformers /
OpenAI-compatible HTTP), ``filters``, ``cache`` (append-only JSONL), ``pipeline`` (the entry point for training),
``__main__`` (``python -m ecct.augment``).
"""

from ecct.augment.pipeline import Augmenter, AugmentSettings, augment_training_set, format_report

__all__ = ["AugmentSettings", "Augmenter", "augment_training_set", "format_report"]
