"""Documents -> conversational prompt-completion datasets for SFTTrainer, with a length check TRL does not do.

SFTTrainer truncates sequences longer than ``max_length`` from the right, which silently cuts gold completions
(and their end-of-turn token). We measure every example first: by default an over-long example is an error that
says how many there are and the ``max_length`` needed; ``skip_longer=True`` drops them instead, counted and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from ecct.data.model import Document
from ecct.decoding.prefix_cache import common_prefix_length
from ecct.prompts import PromptConfig, build_example

log = logging.getLogger(__name__)


class MaxLengthError(ValueError):
    """Gold completions would be cut by ``trainer.max_length``."""


@dataclass(frozen=True)
class LengthReport:
    kept: int
    skipped: int
    longest: int
    max_length: int | None
    longest_kept: int = 0  # the longest example trained on (the memory estimate's row)
    shared_prefix: int = 0  # tokens every kept example starts with (the instruction), for the memory estimate

    def __str__(self) -> str:
        return (
            f"{self.kept} examples kept, {self.skipped} skipped as longer than max_length={self.max_length} "
            f"(longest example: {self.longest} tokens)"
        )


def example_ids(tokenizer: PreTrainedTokenizerBase, example: dict) -> list[int]:
    """Token ids of prompt + completion rendered with the chat template, as SFTTrainer will see them."""
    rendered = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=True, return_dict=True)
    return list(rendered["input_ids"])


def example_length(tokenizer: PreTrainedTokenizerBase, example: dict) -> int:
    return len(example_ids(tokenizer, example))


def build_sft_dataset(
    documents: Sequence[Document],
    prompt_cfg: PromptConfig,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int | None,
    *,
    skip_longer: bool = False,
    name: str = "train",
) -> tuple[Dataset, LengthReport]:
    """One prompt-completion example per document; checks ``max_length`` against every example."""
    examples = [build_example(doc, prompt_cfg) | {"id": doc.id} for doc in documents]
    ids = [example_ids(tokenizer, ex) for ex in examples]
    lengths = [len(row) for row in ids]
    too_long = [i for i, n in enumerate(lengths) if max_length is not None and n > max_length]
    longest = max(lengths, default=0)
    if too_long and not skip_longer:
        raise MaxLengthError(
            f"{len(too_long)} of {len(examples)} {name} examples are longer than trainer.max_length={max_length} "
            f"(longest: {longest} tokens, e.g. document {examples[too_long[0]]['id']!r}); TRL would cut their gold "
            f"completions. Set trainer.max_length={longest} or more, or data.skip_longer=true to drop them (counted)."
        )
    dropped = set(too_long)
    kept = [ex for i, ex in enumerate(examples) if i not in dropped]
    kept_ids = [row for i, row in enumerate(ids) if i not in dropped]
    report = LengthReport(
        kept=len(kept),
        skipped=len(too_long),
        longest=longest,
        max_length=max_length,
        longest_kept=max((len(row) for row in kept_ids), default=0),
        shared_prefix=common_prefix_length(kept_ids),
    )
    log.info("%s dataset: %s", name, report)
    if not kept:
        raise MaxLengthError(f"no {name} examples left ({report})")
    return Dataset.from_list(kept), report
