"""The instruction prefix every prompt shares, encoded once: its key/value cache is computed a single time and a
copy of it starts each batch, so only the document part of each prompt goes through the model.

Left padding would put each row's pads *before* the shared prefix, so rows would no longer share it. Rows are
laid out instead as ``[shared prefix][pads][own suffix]`` with attention mask ``1…1 0…0 1…1``: the pads sit
between prefix and suffix, where the mask hides them from every query. ``generate`` derives position ids from
the attention mask (cumulative sum), so each real token keeps the position it has in its unpadded prompt, the
same as under left padding. Generated tokens follow each row's own suffix, as with left padding.

The prefix is the longest common token-id prefix of all rendered prompts (not a string boundary), so the
model reads exactly the token ids it reads without the cache; it stops at least one token short of the
shortest prompt so every row feeds the model something. The result equals plain generation up to floating
point summation order (the prefix is computed at batch size 1 instead of inside the batch).

Not used (plain left padding instead) when it cannot be exact or cannot help: models with sliding-window
attention (pads inside the window would change what the window covers), a configured static cache
implementation, or a shared prefix shorter than ``min_length`` tokens.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel

log = logging.getLogger(__name__)

MIN_PREFIX_TOKENS = 16


def common_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix, capped one short of the shortest sequence."""
    if not sequences:
        return 0
    shortest = min(len(s) for s in sequences)
    first = sequences[0]
    length = 0
    while length < shortest - 1 and all(s[length] == first[length] for s in sequences):
        length += 1
    return length


def unwrap_peft(model: PreTrainedModel) -> PreTrainedModel:
    """The model under a PEFT wrapper (the model itself when there is none)."""
    get_base = getattr(model, "get_base_model", None)  # a PEFT wrapper
    return get_base() if callable(get_base) else model


def cache_argument(model: PreTrainedModel) -> str:
    """The keyword ``forward``/``generate`` take a cache under: ``cache`` since transformers 5.2x, else the old name."""
    parameters = inspect.signature(unwrap_peft(model).forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def unsupported_reason(model: PreTrainedModel) -> str | None:
    """Why a shared-prefix cache would not be exact for ``model`` (None when it would be)."""
    config = unwrap_peft(model).config
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    if getattr(text_config, "sliding_window", None) and getattr(text_config, "use_sliding_window", True) is not False:
        return "sliding-window attention"
    if getattr(model.generation_config, "cache_implementation", None):
        return f"cache_implementation={model.generation_config.cache_implementation!r}"
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder model"
    return None


@dataclass
class PrefixCache:
    """Key/value cache of ``prefix`` (batch size 1) and the argument name ``generate`` takes it under."""

    prefix: list[int]
    cache: Any
    argument: str

    @classmethod
    def build(
        cls, model: PreTrainedModel, prompts: Sequence[Sequence[int]], min_length: int = MIN_PREFIX_TOKENS
    ) -> PrefixCache | None:
        """Encode the prompts' shared prefix once; None when it is shorter than ``min_length`` or not exact."""
        length = common_prefix_length(prompts)
        reason = unsupported_reason(model)
        if reason or length < min_length:
            log.debug("no prefix cache: %s", reason or f"shared prefix of {length} tokens")
            return None
        prefix = list(prompts[0][:length])
        device = next(model.parameters()).device
        argument = cache_argument(model)
        with torch.inference_mode():
            output = model(input_ids=torch.tensor([prefix], device=device), use_cache=True)
        cache = getattr(output, "cache", None) or getattr(output, "past_key_values", None)
        if cache is None or not hasattr(cache, "batch_repeat_interleave"):
            log.debug("no prefix cache: the model returned no reusable cache")
            return None
        return cls(prefix, cache, argument)

    def for_batch(self, rows: int) -> dict[str, Any]:
        """A fresh copy for a batch of ``rows`` (``generate`` appends to the cache it is given)."""
        cache = copy.deepcopy(self.cache)
        if rows > 1:
            cache.batch_repeat_interleave(rows)
        return {self.argument: cache}

    def layout(self, prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Input ids and attention mask laid out as ``[prefix][pads][suffix]`` for prompts that start with it."""
        length = len(self.prefix)
        suffixes = [list(p[length:]) for p in prompts]
        if any(list(p[:length]) != self.prefix for p in prompts):
            raise ValueError("a prompt does not start with the shared prefix this cache was built for")
        width = max(len(s) for s in suffixes)
        input_ids = torch.full((len(prompts), length + width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(prompts), length + width), dtype=torch.long)
        input_ids[:, :length] = torch.tensor(self.prefix)
        attention[:, :length] = 1
        for row, suffix in enumerate(suffixes):
            input_ids[row, length + width - len(suffix) :] = torch.tensor(suffix)
            attention[row, length + width - len(suffix) :] = 1
        return input_ids, attention
