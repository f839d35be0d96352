"""Batched greedy decoding with the training chat template: the one generation path for dev, test and predict.

Prompts are sorted by length and batched so padding stays small; padding is on the left so every row's
generation starts right after its own prompt. Outputs come back in the caller's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = 256
    batch_size: int = 8
    progress: bool = True


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


@torch.inference_mode()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[Messages],
    settings: GenerationSettings = GenerationSettings(),
    description: str = "generating",
) -> list[str]:
    """Greedy completions (special tokens stripped), one per prompt, in input order."""
    if not prompts:
        return []
    encoded = render_prompts(tokenizer, prompts)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(encoded)
    stops = stop_token_ids(model, tokenizer)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    try:
        for batch in tqdm(batches, desc=description, unit="batch", disable=not settings.progress):
            width = max(len(encoded[i]) for i in batch)
            input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids = encoded[i]
                input_ids[row, width - len(ids) :] = torch.tensor(ids)
                attention[row, width - len(ids) :] = 1
            generated = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                max_new_tokens=settings.max_new_tokens,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,  # gradient checkpointing turns the cache off in the config; decoding needs it
            )
            for row, i in enumerate(batch):
                outputs[i] = tokenizer.decode(generated[row, width:], skip_special_tokens=True).strip()
    finally:
        model.train(was_training)
    return outputs
