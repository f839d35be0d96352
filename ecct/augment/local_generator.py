"""Batched sampling for augmentation with a local transformers model and its chat template."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from ecct.augment.generation import (
    GenerationRequest,
    GenerationStats,
    OnResult,
    SamplingConfig,
    derived_seed,
    local_model_id,
)
from ecct.augment.marking import DEFAULT_MARKERS, MarkerFormat


class LocalGenerator:
    """Batched sampling with a transformers causal LM and its chat template.

    Requests of one source share a prompt, which is run once with ``num_return_sequences`` = its sample count.
    Each batch is seeded from the sampling seed and its first request, so a batch repeats exactly.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        sampling: SamplingConfig,
        batch_size: int = 8,
        model_id: str = "",
        marker_format: MarkerFormat = DEFAULT_MARKERS,
    ):
        if batch_size < 1:
            raise ValueError("augment.generator.batch_size must be >= 1")
        self.model = model
        self.tokenizer = tokenizer
        self.sampling = sampling
        self.batch_size = batch_size
        self.id = model_id or str(getattr(model.config, "_name_or_path", "local"))
        self.marker_format = marker_format

    @classmethod
    def from_config(
        cls,
        model_cfg: Mapping[str, Any],
        sampling: SamplingConfig,
        batch_size: int,
        marker_format: MarkerFormat = DEFAULT_MARKERS,
    ) -> LocalGenerator:
        from ecct.models import load_model, load_tokenizer, resolve_model_path

        path = resolve_model_path(model_cfg)
        model = load_model(model_cfg, None, path)
        if torch.cuda.is_available():  # generation is the expensive part of augmentation: use the GPU when there
            model.to("cuda")
        tokenizer = load_tokenizer(model_cfg, path)
        return cls(model, tokenizer, sampling, batch_size, local_model_id(model_cfg), marker_format)

    def _marker_constraint(
        self,
        sources: Sequence[list[GenerationRequest]],
        batch: Sequence[int],
        n: int,
        stops: Sequence[int],
        source_budgets: Sequence[int],
    ) -> list[Any]:
        """The marker processor for one batch (rows = sources x n samples, as generate expands them), or none."""
        if not self.sampling.constrain_markers:
            return []
        from ecct.augment.marker_constraint import MarkerLogitsProcessor

        rows = [sources[i][0].markers for i in batch for _ in range(n)]
        budgets = [budget for budget in source_budgets for _ in range(n)]
        return [
            MarkerLogitsProcessor(
                rows,
                self.tokenizer,
                stops,
                self.marker_format,
                max_new_tokens=budgets,
                stop_strings=self.sampling.stop_strings,
            )
        ]

    def _budget(self, texts: Sequence[str]) -> int:
        if self.sampling.length_factor is None:
            return self.sampling.max_new_tokens
        longest = max(len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)
        return max(8, min(self.sampling.max_new_tokens, math.ceil(self.sampling.length_factor * longest) + 8))

    @torch.inference_mode()
    def generate(
        self, requests: Sequence[GenerationRequest], on_result: OnResult, progress: bool = True
    ) -> GenerationStats:
        from ecct.decoding.generate import left_padded, render_prompts, stop_token_ids

        stats = GenerationStats(requested=len(requests))
        groups: dict[str, list[GenerationRequest]] = {}
        for request in requests:
            groups.setdefault(request.source_id, []).append(request)
        sources = list(groups.values())
        encoded = render_prompts(self.tokenizer, [group[0].messages for group in sources])
        order = sorted(range(len(sources)), key=lambda i: len(encoded[i]))
        stops = stop_token_ids(self.model, self.tokenizer)
        self.model.eval()
        device = next(self.model.parameters()).device
        pad = self.tokenizer.pad_token_id
        bar = tqdm(total=len(requests), desc="augmenting", unit="sample", disable=not progress)
        for first in range(0, len(order), self.batch_size):
            batch = order[first : first + self.batch_size]
            n = max(len(sources[i]) for i in batch)
            input_ids, attention = left_padded([encoded[i] for i in batch], pad)
            width = input_ids.shape[1]
            head = sources[batch[0]][0]
            # Per source (the marker constraint ends each row at its own); generate's cap is the longest of them.
            source_budgets = [self._budget([sources[i][0].document_text]) for i in batch]
            torch.manual_seed(derived_seed(self.sampling.seed, head.source_id, head.sample))
            generated = self.model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                do_sample=True,
                temperature=self.sampling.temperature,
                top_p=self.sampling.top_p,
                top_k=0,
                num_return_sequences=n,
                max_new_tokens=max(source_budgets),
                eos_token_id=stops,
                pad_token_id=pad,
                use_cache=True,
                logits_processor=self._marker_constraint(sources, batch, n, stops, source_budgets),
                # No stop_strings here: transformers matches them across the prompt boundary, so a prompt ending in
                # "\n" and an answer that opens with "原文：" would stop at once. Samples are cut after decoding.
            )
            for row, i in enumerate(batch):
                for j, request in enumerate(sources[i]):
                    text = self.tokenizer.decode(generated[row * n + j, width:], skip_special_tokens=True)
                    text = self.sampling.cut_at_stop(text)
                    on_result(request, text)
                    stats.completed += 1
                    bar.update(1)
        bar.close()
        return stats
