"""Text generators behind one interface (requests, sampling settings, results): ``LocalGenerator``
(``local_generator``, a transformers model) or ``OpenAIChatGenerator`` (``openai_generator``, an HTTP endpoint).

A generator receives ``GenerationRequest``s (one per (source document, sample index)) and calls ``on_result``
for each finished sample as soon as it exists, so the caller can write it to the cache before the next one
(an interrupted job then loses at most the batch in flight). Requests that fail for good are counted in the
returned ``GenerationStats`` and left out of the cache, so a later run retries them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ecct.augment.marking import DEFAULT_MARKERS, MarkerFormat

Messages = list[dict[str, str]]
# Part of the cache key of constrained samples: bump it when ecct.augment.marker_constraint samples differently.
MARKER_CONSTRAINT_VERSION = 4
OnResult = Callable[["GenerationRequest", str], None]


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
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))  # a list when built from a config
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
        from ecct.augment.local_generator import LocalGenerator

        model_cfg = generator_cfg.get("model")
        if not model_cfg:
            raise ValueError("augment.generator.model is missing: a model config (like conf/model/*.yaml) is needed")
        batch_size = int(generator_cfg.get("batch_size", 8))
        return LocalGenerator.from_config(model_cfg, sampling, batch_size, marker_format)
    if kind == "openai":
        from ecct.augment.openai_generator import OpenAIChatGenerator

        return OpenAIChatGenerator.from_config(generator_cfg, sampling)
    raise ValueError(f"augment.generator.type={kind!r} is unknown; expected 'local' or 'openai'")
