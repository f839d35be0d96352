"""Batched greedy decoding with the training chat template: the one generation path for dev, test and predict.

Prompts are sorted by length and batched so padding stays small. Outputs come back in the caller's order.

- The instruction prefix all prompts share is encoded once (``ecct.decoding.prefix_cache``) and each batch starts from
  a copy of its key/value cache; rows are then laid out ``[prefix][pads][suffix]``. Without it (or when the
  model cannot use it exactly) rows are left padded. Either way every row's generation starts right after its
  own prompt and sees exactly its own prompt's tokens at the same positions.
- ``settings.constrained`` adds ``ecct.decoding.constrained.VerbatimLogitsProcessor``: spans can only be copied from the
  row's document and categories only come from the label set (``lines`` format only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import LogitsProcessorList, PreTrainedModel, PreTrainedTokenizerBase

from ecct.decoding.prefix_cache import PrefixCache
from ecct.settings import flag

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 256
    batch_size: int = 8
    progress: bool = True
    constrained: bool = False  # verbatim-constrained decoding (needs the documents; lines format)
    prefix_cache: bool = True  # encode the shared instruction prefix once (exact; see ecct.decoding.prefix_cache)
    cause_clauses: tuple[int, ...] | None = None  # constrained only: relative clause positions a cause may come from
    allow_empty: bool = True  # constrained only: False refuses the empty answer ("None"): at least one triplet
    cause_outside_emotion: bool = False  # constrained only: a cause may not overlap its emotion's text

    def __post_init__(self) -> None:
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"eval.max_new_tokens: expected a positive integer, got {self.max_new_tokens!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"eval.batch_size: expected a positive integer, got {self.batch_size!r}")
        if self.cause_clauses is not None:
            object.__setattr__(self, "cause_clauses", _cause_clauses(self.cause_clauses, self.constrained))
        if not self.allow_empty and not self.constrained:
            raise ValueError("eval.allow_empty=false needs eval.constrained=true (predict: constrained=true)")
        if self.cause_outside_emotion and not self.constrained:
            raise ValueError("eval.cause_outside_emotion=true needs eval.constrained=true (predict: constrained=true)")

    @classmethod
    def from_config(cls, eval_cfg: Mapping[str, Any] | None, **overrides: Any) -> GenerationSettings:
        """From the ``eval`` group (other keys ignored); an override that is not None wins over it."""
        values = {**dict(eval_cfg or {}), **{k: v for k, v in overrides.items() if v is not None}}
        chosen: dict[str, Any] = {}
        for field in fields(cls):
            if values.get(field.name) is None:
                continue
            if isinstance(field.default, bool):
                chosen[field.name] = flag(values, field.name, field.default, "eval")
            else:
                chosen[field.name] = values[field.name]
        return cls(**chosen)


def _cause_clauses(value: Any, constrained: bool) -> tuple[int, ...]:
    """``eval.cause_clauses`` checked: a non-empty list of ints (relative clause positions), constrained only."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ValueError(f"eval.cause_clauses: expected null or a list of integers like [-2, -1, 0, 1], got {value!r}")
    items = list(value)
    if not items or any(isinstance(v, bool) or not isinstance(v, int) for v in items):
        raise ValueError(f"eval.cause_clauses: expected null or a list of integers like [-2, -1, 0, 1], got {value!r}")
    if not constrained:
        raise ValueError(
            f"eval.cause_clauses={items} needs eval.constrained=true (predict: constrained=true); "
            "it restricts verbatim-constrained decoding"
        )
    return tuple(sorted(set(items)))


def render_prompts(tokenizer: PreTrainedTokenizerBase, prompts: Sequence[Messages]) -> list[list[int]]:
    """Token ids of each conversation up to the assistant turn, exactly as SFTTrainer renders training prompts."""
    return [
        list(
            tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for messages in prompts
    ]


def stop_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """End-of-turn ids: the tokenizer's eos plus whatever the model's generation config already stops on."""
    ids = {tokenizer.eos_token_id}
    configured = model.generation_config.eos_token_id
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return sorted(i for i in ids if i is not None)


def left_padded(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in prompts)
    input_ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(list(ids))
        attention[row, width - len(ids) :] = 1
    return input_ids, attention


def _check_constraint_inputs(
    prompts: Sequence[Messages], documents: Sequence[str] | None, output_format: str
) -> Sequence[str]:
    if documents is None:
        raise ValueError("constrained decoding needs the document text of every prompt (documents=...)")
    if len(documents) != len(prompts):
        raise ValueError(f"constrained decoding: {len(documents)} documents for {len(prompts)} prompts")
    if output_format != "lines":
        raise ValueError(
            f"constrained decoding supports prompt.output_format=lines only, not {output_format!r}; "
            "set eval.constrained=false or use the lines format"
        )
    return documents


@torch.inference_mode()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Messages],
    settings: GenerationSettings = GenerationSettings(),
    description: str = "generating",
    documents: Sequence[str] | None = None,
    output_format: str = "lines",
    on_batch: Callable[[list[int], list[str]], None] | None = None,
) -> list[str]:
    """Greedy completions (special tokens stripped), one per prompt, in input order.

    ``documents[i]`` is the text prompt ``i`` asks about; only constrained decoding reads it. ``on_batch``, when
    given, is called after every batch with its prompt indices and their completions (``ecct.predict`` writes
    each finished batch at once).
    """
    if not prompts:
        return []
    if settings.constrained:
        documents = _check_constraint_inputs(prompts, documents, output_format)
        from ecct.decoding.constrained import VerbatimLogitsProcessor  # only constrained runs pay for its tables
    encoded = render_prompts(tokenizer, prompts)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(encoded)
    stops = stop_token_ids(model, tokenizer)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    try:
        shared = PrefixCache.build(model, encoded) if settings.prefix_cache else None
        for batch in tqdm(batches, desc=description, unit="batch", disable=not settings.progress):
            rows = [encoded[i] for i in batch]
            extra: dict = {}
            if shared is not None:
                input_ids, attention = shared.layout(rows, tokenizer.pad_token_id)
                extra.update(shared.for_batch(len(batch)))
            else:
                input_ids, attention = left_padded(rows, tokenizer.pad_token_id)
            if settings.constrained:
                assert documents is not None
                texts = [documents[i] for i in batch]
                extra["logits_processor"] = LogitsProcessorList(
                    [
                        VerbatimLogitsProcessor(
                            texts,
                            tokenizer,
                            stops,
                            settings.cause_clauses,
                            settings.allow_empty,
                            settings.cause_outside_emotion,
                        )
                    ]
                )
            width = input_ids.shape[1]
            generated = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                max_new_tokens=settings.max_new_tokens,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,  # gradient checkpointing turns the cache off in the config; decoding needs it
                **extra,
            )
            for row, i in enumerate(batch):
                outputs[i] = tokenizer.decode(generated[row, width:], skip_special_tokens=True).strip()
            if on_batch is not None:
                on_batch(list(batch), [outputs[i] for i in batch])
    finally:
        model.train(was_training)
    return outputs
