"""Shared-prefix training: the instruction every row of a batch starts with goes through the model once.

Every training example begins with the same system turn (the instruction: 50-70% of its tokens). The plain
path pushes it through the model forward and backward once per row. Here, for each micro-batch:

1. the longest token prefix common to all rows (and unsupervised in all of them) is found;
2. it is run once at batch size 1, with gradients, returning the model's own key/value cache;
3. that cache is repeated along the batch (a differentiable copy) and each row's own suffix (document +
   completion) is run over it, with position ids continuing after the prefix and an attention mask over
   prefix + suffix; the loss is TRL's own ``compute_loss`` on the suffix.

The gradient of the prefix flows back through the repeated cache, so loss and gradients equal the plain
batch up to float summation order (tested: 1e-5 relative on the loss, 1e-4 on every gradient). With dropout
on, the prefix shares one dropout mask across the rows of a batch: an unbiased but correlated sample.

It falls back to the plain batch, and says why once, where it cannot be exact or cannot help: gradient
checkpointing (the model refuses a cache in training), encoder-decoder models, a model that returns no cache,
padding-free batches (no attention mask), or a shared prefix shorter than ``min_prefix_tokens``.
Sliding-window attention stays exact: the library's sliding-window cache masks per query position, as in
chunked prefill.
"""

from __future__ import annotations

import copy as _copy
import logging
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ecct.decoding.prefix_cache import cache_argument, unwrap_peft

log = logging.getLogger(__name__)

IGNORE_INDEX = -100
MIN_PREFIX_TOKENS = 16


def shared_prefix_length(input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> int:
    """Tokens every row starts with that can be computed once: same ids, attended, and no label on them or on
    the token right after them (the prediction of that token would need the prefix's last hidden state).

    At most one short of the shortest row, so every row keeps a suffix.
    """
    if input_ids.size(0) == 0:
        return 0
    same = (input_ids == input_ids[:1]).all(dim=0) & attention_mask.bool().all(dim=0)
    # ``labels[:, i]`` is the target predicted from position ``i - 1``: the prefix ends before the first label.
    unlabelled = (labels == IGNORE_INDEX).all(dim=0)
    unlabelled_next = torch.cat([unlabelled[1:], unlabelled.new_zeros(1)])
    usable = same & unlabelled & unlabelled_next
    length = int(usable.long().cumprod(0).sum())
    shortest = int(attention_mask.sum(dim=1).min())
    return max(0, min(length, shortest - 1))


def causal_lm_of(model: nn.Module) -> nn.Module:
    """The causal LM under any DDP/PEFT wrappers."""
    return unwrap_peft(getattr(model, "module", model))  # DDP / DataParallel keep the model in ``module``


def backbone_of(model: nn.Module) -> nn.Module:
    """The transformer body (no LM head) of a causal LM: LoRA layers live inside it."""
    causal_lm = causal_lm_of(model)
    return getattr(causal_lm, causal_lm.base_model_prefix)


def unsupported_reason(model: nn.Module) -> str | None:
    """Why shared-prefix training would not be exact for ``model`` (None when it would be)."""
    causal_lm = causal_lm_of(model)
    if getattr(causal_lm.config, "is_encoder_decoder", False):
        return "encoder-decoder model"
    # transformers 5.x renames gradient checkpointing to activation checkpointing (the old name warns)
    name = (
        "is_activation_checkpointing"
        if hasattr(causal_lm, "is_activation_checkpointing")
        else "is_gradient_checkpointing"
    )
    if getattr(causal_lm, name, False):
        return "gradient checkpointing is on (the model returns no cache in training)"
    return None


@dataclass(frozen=True)
class SharedPrefixSettings:
    """The ``shared_prefix`` config node (conf/config.yaml)."""

    enabled: bool = True
    rows_per_chunk: int | None = 1  # rows whose suffix activations are alive at once; None: the whole micro-batch
    min_tokens: int = MIN_PREFIX_TOKENS

    def __post_init__(self) -> None:
        if self.rows_per_chunk is not None and self.rows_per_chunk < 1:
            raise ValueError(
                f"shared_prefix.rows_per_chunk: expected a positive integer or null, got {self.rows_per_chunk}"
            )
        if self.min_tokens < 1:
            raise ValueError(f"shared_prefix.min_tokens: expected a positive integer, got {self.min_tokens}")


@dataclass
class PrefixStats:
    """Token accounting of the batches seen: what the model computed against what the rows hold."""

    batches: int = 0
    shared_batches: int = 0
    useful_tokens: int = 0  # non-pad tokens of all rows (each row's prefix counted once per row)
    plain_tokens: int = 0  # what the plain path computes: rows x longest row
    computed_tokens: int = 0  # what this path computes: prefix once + each pass's rows x its longest suffix
    needed_tokens: int = 0  # what it must compute at least: prefix once + every row's own suffix
    fallbacks: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, float]:
        return {
            "shared_prefix/batches": self.batches,
            "shared_prefix/shared_batches": self.shared_batches,
            "shared_prefix/computed_per_useful_token": self.computed_tokens / max(self.useful_tokens, 1),
            "shared_prefix/plain_per_useful_token": self.plain_tokens / max(self.useful_tokens, 1),
            "shared_prefix/padding_per_needed_token": self.computed_tokens / max(self.needed_tokens, 1),
        }


class SharedPrefixMixin:
    """Mix into an ``SFTTrainer`` subclass (before it) to compute each batch's shared prefix once.

    Only ``compute_loss`` changes: the batch is rewritten into (prefix cache, suffix inputs) and handed to
    TRL's own ``compute_loss``, so its loss, fused LM head, token counting and metrics stay as they are.

    ``rows_per_chunk`` bounds memory: in training, the suffixes go through the model that many rows at a time
    over a detached copy of the prefix cache, each chunk's backward runs at once (its activations are freed)
    and accumulates the gradient of the prefix keys/values; the loss returned carries, besides the last chunk,
    a zero-valued term whose gradient is that accumulated one, so the Trainer's own backward finishes the
    prefix. Gradients stay exact; peak memory is that of one chunk plus the prefix.
    """

    shared_prefix: bool = True
    min_prefix_tokens: int = MIN_PREFIX_TOKENS
    rows_per_chunk: int | None = None  # None: all rows of the micro-batch in one pass

    def configure_shared_prefix(self, settings: SharedPrefixSettings) -> None:
        self.shared_prefix = settings.enabled
        self.rows_per_chunk = settings.rows_per_chunk
        self.min_prefix_tokens = settings.min_tokens
        if not settings.enabled:
            log.info("shared-prefix training off (shared_prefix.enabled=false): every row is computed in full")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        parent = super().compute_loss  # type: ignore[misc]
        if not self.shared_prefix:
            return parent(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        split = self.split_shared_prefix(model, inputs)
        if split is None:
            return parent(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        cache, suffix = split
        rows = suffix["input_ids"].size(0)
        chunk = self.rows_per_chunk or rows
        if chunk >= rows or return_outputs or not (model.training and torch.is_grad_enabled()):
            if model.training:
                self.prefix_stats.computed_tokens += suffix["input_ids"].numel()
            return parent(
                model,
                suffix | {self._cache_key(model): repeated(cache, rows)},
                return_outputs=return_outputs,
                num_items_in_batch=num_items_in_batch,
            )
        return self._chunked_loss(model, cache, suffix, chunk, num_items_in_batch)

    def _loss_scaled_for_accumulation(self, num_items_in_batch: Any) -> bool:
        """Whether ``Trainer.training_step`` takes the loss as already scaled for accumulation (its own test)."""
        declared = getattr(self, "loss_is_scaled_for_ga", None)
        if declared is not None:
            return bool(declared)
        accepts = bool(getattr(self, "model_accepts_loss_kwargs", False))
        return (accepts and num_items_in_batch is not None) or getattr(self, "compute_loss_func", None) is not None

    def _cache_key(self, model: nn.Module) -> str:
        return cache_argument(causal_lm_of(model))

    def _chunked_loss(
        self, model: nn.Module, cache: Any, suffix: dict[str, Any], chunk: int, num_items_in_batch: Any
    ) -> torch.Tensor:
        parent = super().compute_loss  # type: ignore[misc]
        scaled_for_accumulation = self._loss_scaled_for_accumulation(num_items_in_batch)
        accumulation = getattr(self, "current_gradient_accumulation_steps", 1)
        if num_items_in_batch is None:  # TRL would normalise each chunk by its own label count
            num_items_in_batch = int((suffix["labels"][:, 1:] != IGNORE_INDEX).sum())
        prefix_states = [tensor for layer in cache.layers for tensor in (layer.keys, layer.values)]
        leaves = [tensor.detach().requires_grad_() for tensor in prefix_states]
        rows = suffix["input_ids"].size(0)
        starts = list(range(0, rows, chunk))
        earlier_loss = torch.zeros((), device=suffix["input_ids"].device)
        no_sync = getattr(self.accelerator, "no_sync", None)
        for start in starts[:-1]:
            part = chunk_of(suffix, start, start + chunk)
            self.prefix_stats.computed_tokens += part["input_ids"].numel()
            with no_sync(model) if no_sync else nullcontext():
                loss = parent(
                    model,
                    part | {self._cache_key(model): repeated(cache, chunk, leaves)},
                    num_items_in_batch=num_items_in_batch,
                )
                if not scaled_for_accumulation:
                    loss = loss / accumulation
                self.accelerator.backward(loss)
            earlier_loss += loss.detach()
        last = chunk_of(suffix, starts[-1], rows)
        self.prefix_stats.computed_tokens += last["input_ids"].numel()
        loss = parent(
            model,
            last | {self._cache_key(model): repeated(cache, last["input_ids"].size(0))},
            num_items_in_batch=num_items_in_batch,
        )
        # The earlier chunks' gradient w.r.t. the prefix keys/values, routed into the Trainer's backward.
        carried = sum(
            (state * leaf.grad).sum()
            for state, leaf in zip(prefix_states, leaves, strict=True)
            if leaf.grad is not None
        )
        if not scaled_for_accumulation:  # the Trainer divides what it gets by the accumulation steps
            earlier_loss = earlier_loss * accumulation
            carried = carried * accumulation
        return loss + (carried - carried.detach()) + earlier_loss

    @property
    def prefix_stats(self) -> PrefixStats:
        if not hasattr(self, "_prefix_stats"):
            self._prefix_stats = PrefixStats()
        return self._prefix_stats

    def _fall_back(self, reason: str) -> None:
        stats = self.prefix_stats
        if not stats.fallbacks[reason]:
            log.info("shared-prefix training: plain batch (%s); logged once per reason", reason)
        stats.fallbacks[reason] += 1

    def split_shared_prefix(self, model: nn.Module, inputs: dict[str, Any]) -> tuple[Any, dict[str, Any]] | None:
        """(key/value cache of the shared prefix at batch size 1, the suffix inputs), or None for a plain batch."""
        stats = self.prefix_stats if model.training else PrefixStats()  # training batches only
        if "attention_mask" not in inputs or "labels" not in inputs:
            self._fall_back("padding-free batch")
            return None
        input_ids, mask, labels = inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
        rows, width = input_ids.shape
        stats.batches += 1
        stats.useful_tokens += int(mask.sum())
        stats.plain_tokens += rows * width
        reason = unsupported_reason(model)
        length = 0 if reason else shared_prefix_length(input_ids, mask, labels)
        if reason or length < self.min_prefix_tokens:
            stats.computed_tokens += rows * width
            stats.needed_tokens += int(mask.sum())
            self._fall_back(reason or f"shared prefix shorter than {self.min_prefix_tokens} tokens")
            return None
        output = backbone_of(model)(input_ids=input_ids[:1, :length], attention_mask=mask[:1, :length], use_cache=True)
        cache = getattr(output, "cache", None) or getattr(output, "past_key_values", None)
        if cache is None or not hasattr(cache, "layers"):
            stats.computed_tokens += rows * width
            stats.needed_tokens += int(mask.sum())
            self._fall_back("the model returned no reusable cache")
            return None
        suffix_width = int(mask[:, length:].sum(dim=1).max())  # right padding: trim columns no row uses
        end = length + suffix_width
        stats.shared_batches += 1
        stats.computed_tokens += length  # the suffix passes add theirs (chunks are trimmed to their own rows)
        stats.needed_tokens += length + int(mask[:, length:].sum())
        positions = torch.arange(length, end, device=input_ids.device).unsqueeze(0).expand(rows, -1)
        suffix = {key: value for key, value in inputs.items() if key not in ("input_ids", "attention_mask", "labels")}
        suffix |= {
            "input_ids": input_ids[:, length:end],
            "attention_mask": mask[:, :end],
            "labels": labels[:, length:end],
            "position_ids": positions,
        }
        return cache, suffix


def repeated(cache: Any, rows: int, states: list[torch.Tensor] | None = None) -> Any:
    """The prefix cache for ``rows`` rows (a differentiable copy per row, so the prefix gets every row's gradient),
    over ``states`` (keys, values, keys, ... per layer: detached leaves whose ``.grad`` collects a chunk's gradient)
    instead of the cache's own tensors when given."""
    own = [tensor for layer in cache.layers for tensor in (layer.keys, layer.values)]
    flat = own if states is None else states
    copy = shallow_copy(cache, list(zip(flat[0::2], flat[1::2], strict=True)))
    if rows > 1:
        copy.batch_repeat_interleave(rows)
    return copy


def shallow_copy(cache: Any, states: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    """A copy of ``cache`` whose layers hold ``states``: the model appends to the cache it is given, so each pass
    needs its own."""
    copy = _copy.copy(cache)
    copy.layers = []
    for layer, (keys, values) in zip(cache.layers, states, strict=True):
        new_layer = _copy.copy(layer)
        new_layer.keys, new_layer.values = keys, values
        copy.layers.append(new_layer)
    return copy


def chunk_of(inputs: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    """Rows ``start:end`` of every batch tensor, columns trimmed to the chunk's own longest row."""
    part = {
        key: value[start:end] if torch.is_tensor(value) and value.dim() > 0 else value for key, value in inputs.items()
    }
    width = part["input_ids"].size(1)
    used = int(part["attention_mask"][:, -width:].sum(dim=1).max())
    drop = width - used
    if drop:
        part["input_ids"] = part["input_ids"][:, :used]
        part["labels"] = part["labels"][:, :used]
        part["position_ids"] = part["position_ids"][:, :used]
        part["attention_mask"] = part["attention_mask"][:, : part["attention_mask"].size(1) - drop]
    return part
