"""Text generators behind one interface: a local transformers model, or an OpenAI-compatible HTTP endpoint.

A generator receives ``GenerationRequest``s (one per (source document, sample index)) and calls ``on_result``
for each finished sample as soon as it exists, so the caller can write it to the cache before the next one
(an interrupted job then loses at most the batch in flight). Requests that fail for good are counted in the
returned ``GenerationStats`` and left out of the cache, so a later run retries them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from ecct.augment.marking import DEFAULT_MARKERS, MarkerFormat

Messages = list[dict[str, str]]
# Part of the cache key of constrained samples: bump it when ecct.augment.marker_constraint samples differently.
MARKER_CONSTRAINT_VERSION = 4
OnResult = Callable[["GenerationRequest", str], None]

log = logging.getLogger(__name__)


class GenerationError(RuntimeError):
    """A generator that cannot work at all (bad endpoint, rejected key): the message says what to fix."""


@dataclass(frozen=True)
class GenerationRequest:
    source_id: str
    sample: int
    messages: Messages
    document_text: str  # the marked text being rewritten; sizes the output budget
    markers: tuple[str, ...] = ()  # its rendered markers, each to be copied once (marker-constrained sampling)


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 512  # hard cap per sample
    length_factor: float | None = 1.5  # local: cap to factor x the marked text's tokens (None: always the cap)
    seed: int = 42
    # Output ends at the first of these (excluded): a small model that finished its rewrite often goes on with a
    # new "Text:" turn of its own, which would repeat every marker. Start them with a newline (see cut_at_stop). Sent
    # to an HTTP server as "stop"; a local model's samples are cut after decoding (see LocalGenerator.generate).
    stop_strings: tuple[str, ...] = ()
    # Local only: mask tokens that would write anything but the source's unused markers, and the end of sequence
    # until every marker is written (ecct.augment.marker_constraint).
    constrain_markers: bool = False

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ValueError("augment.sampling.temperature must be > 0 (augmentation samples; greedy repeats itself)")
        if not 0 < self.top_p <= 1:
            raise ValueError("augment.sampling.top_p must be in (0, 1]")
        if self.max_new_tokens < 8:
            raise ValueError("augment.sampling.max_new_tokens must be >= 8")
        if any(not isinstance(stop, str) or not stop for stop in self.stop_strings):
            raise ValueError(f"augment.sampling.stop_strings must be non-empty strings, got {list(self.stop_strings)}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, seed: int) -> SamplingConfig:
        values = {**dict(cfg or {}), "seed": seed}
        values["stop_strings"] = tuple(values.get("stop_strings") or ())
        return cls(**values)

    def cut_at_stop(self, text: str) -> str:
        """``text`` up to the first stop string, without a stop header the model wrote before its answer.

        Stop strings start with a newline (``"\n原文："``), so a header at the very start does not end the sample at
        generation time; it is dropped here (small models often open their answer with the prompt's header).
        """
        text = text.strip()
        for stop in self.stop_strings:
            header = stop.strip()
            if header and text.startswith(header):
                text = text[len(header) :].lstrip(" \t\r\n:：")
        for stop in self.stop_strings:
            text = text.split(stop, 1)[0]
        return text.strip()

    def as_key(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_new_tokens": self.max_new_tokens,
            "length_factor": self.length_factor,
            "seed": self.seed,
            # Only when set, so that cache keys written before these options existed still match.
            **({"stop_strings": list(self.stop_strings)} if self.stop_strings else {}),
            **({"constrain_markers": MARKER_CONSTRAINT_VERSION} if self.constrain_markers else {}),
        }


def derived_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (Python's hash() is salted per process)."""
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


@dataclass
class GenerationStats:
    requested: int = 0
    completed: int = 0
    failed: Counter[str] = field(default_factory=Counter)


class Generator(Protocol):
    """Anything that turns requests into texts; ``id`` names the model in cache keys."""

    id: str

    def generate(
        self, requests: Sequence[GenerationRequest], on_result: OnResult, progress: bool = True
    ) -> GenerationStats: ...


# ------------------------------------------------------------------------------------------- local transformers


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
        from ecct.generate import render_prompts, stop_token_ids

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
            width = max(len(encoded[i]) for i in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                input_ids[row, width - len(encoded[i]) :] = torch.tensor(encoded[i])
                attention[row, width - len(encoded[i]) :] = 1
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


# ----------------------------------------------------------------------------------- OpenAI-compatible endpoint

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIChatGenerator:
    """Chat completions from any OpenAI-compatible server (vLLM, TGI, llama.cpp server, hosted APIs).

    Each request is retried on timeouts, connection errors and 408/409/425/429/5xx with exponential backoff
    (``backoff_s`` x 2^attempt); at most ``concurrency`` requests are in flight. 401/403 stop the run (the key is
    wrong for every request); other failures are counted per request and left for a later run.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        sampling: SamplingConfig,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        concurrency: int = 8,
        extra_body: Mapping[str, Any] | None = None,
    ):
        if not base_url:
            raise GenerationError(
                "augment.generator.base_url is empty: give the server's URL, e.g. http://host:8000/v1"
            )
        if not model:
            raise GenerationError("augment.generator.model is empty: give the model name the server serves")
        if sampling.constrain_markers:
            raise GenerationError(
                "augment.sampling.constrain_markers works with augment=local only: a chat-completions endpoint "
                "cannot run the marker logits processor; set augment.sampling.constrain_markers=false"
            )
        if concurrency < 1 or max_retries < 0:
            raise ValueError("augment.generator: concurrency must be >= 1 and max_retries >= 0")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.id = model
        self.sampling = sampling
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        self.attempts = 0  # HTTP requests sent, retries included
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sampling: SamplingConfig) -> OpenAIChatGenerator:
        key_env = cfg.get("api_key_env") or "OPENAI_API_KEY"
        return cls(
            base_url=str(cfg.get("base_url") or ""),
            model=str(cfg.get("model") or ""),
            sampling=sampling,
            api_key=cfg.get("api_key") or os.environ.get(key_env),
            timeout_s=float(cfg.get("timeout_s", 60)),
            max_retries=int(cfg.get("max_retries", 5)),
            backoff_s=float(cfg.get("backoff_s", 1.0)),
            concurrency=int(cfg.get("concurrency", 8)),
            extra_body=cfg.get("extra_body"),
        )

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": request.messages,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "max_tokens": self.sampling.max_new_tokens,
            "seed": derived_seed(self.sampling.seed, request.source_id, request.sample),
            **({"stop": list(self.sampling.stop_strings)} if self.sampling.stop_strings else {}),
            **self.extra_body,
        }

    def complete(self, client: Any, request: GenerationRequest) -> str:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.attempts += 1
            try:
                response = client.post(self.url, json=self._payload(request), headers=headers)
            except httpx.TransportError as err:  # timeouts, refused connections, broken streams
                problem = f"{type(err).__name__}: {err}"
                continue
            if response.status_code in (401, 403):
                raise GenerationError(
                    f"{self.url} answered {response.status_code}: set augment.generator.api_key or the environment "
                    f"variable named by augment.generator.api_key_env"
                )
            if response.status_code in RETRY_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            try:
                content = response.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError) as err:
                raise RuntimeError(f"malformed response ({err}): {response.text[:200]}") from err
            return self.sampling.cut_at_stop(str(content or ""))
        raise RuntimeError(f"gave up after {self.max_retries + 1} attempts ({problem})")

    def generate(
        self, requests: Sequence[GenerationRequest], on_result: OnResult, progress: bool = True
    ) -> GenerationStats:
        import httpx

        stats = GenerationStats(requested=len(requests))
        bar = tqdm(total=len(requests), desc="augmenting", unit="sample", disable=not progress)
        with httpx.Client(timeout=self.timeout_s) as client, ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(self.complete, client, request): request for request in requests}
            try:
                for future in as_completed(futures):
                    request = futures[future]
                    try:
                        text = future.result()
                    except GenerationError:
                        raise
                    except RuntimeError as err:
                        stats.failed[str(err).split(":")[0].split(" (")[0]] += 1
                        log.warning("generation for %s #%d failed: %s", request.source_id, request.sample, err)
                    else:
                        on_result(request, text)  # in this thread only: the cache is written by one writer
                        stats.completed += 1
                    bar.update(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                bar.close()
        return stats


def local_model_id(model_cfg: Mapping[str, Any]) -> str:
    """A name for a model config that is stable across machines (no cache paths)."""
    if model_cfg.get("source") == "tiny":
        return f"tiny-h{model_cfg.get('hidden_size', 64)}-l{model_cfg.get('num_layers', 2)}"
    if model_cfg.get("source") == "embedded":
        return str(model_cfg.get("gguf_file") or model_cfg.get("name"))
    return str(model_cfg.get("name_or_path") or model_cfg.get("name"))


def generator_id(generator_cfg: Mapping[str, Any]) -> str:
    """The model id ``build_generator`` would report, known without loading anything (for cache lookups)."""
    if generator_cfg.get("type") == "local":
        return local_model_id(generator_cfg.get("model") or {})
    return str(generator_cfg.get("model") or "")


def build_generator(
    generator_cfg: Mapping[str, Any], sampling: SamplingConfig, marker_format: MarkerFormat = DEFAULT_MARKERS
) -> Generator:
    """The generator ``augment.generator`` describes (``type: local`` or ``type: openai``)."""
    kind = generator_cfg.get("type")
    if kind == "local":
        model_cfg = generator_cfg.get("model")
        if not model_cfg:
            raise ValueError("augment.generator.model is missing: a model config (like conf/model/*.yaml) is needed")
        batch_size = int(generator_cfg.get("batch_size", 8))
        return LocalGenerator.from_config(model_cfg, sampling, batch_size, marker_format)
    if kind == "openai":
        return OpenAIChatGenerator.from_config(generator_cfg, sampling)
    raise ValueError(f"augment.generator.type={kind!r} is unknown; expected 'local' or 'openai'")
