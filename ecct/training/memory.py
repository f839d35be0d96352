"""Will the configured micro-batch fit in memory? An estimate made with the length check, before training.

Calibrated on the embedded SmolLM2-135M (hidden 576, 30 layers), float32 on CPU, LoRA, the full Chinese
instruction on the Gui corpus: about **1.8 MB of peak memory per token alive at once**, on top of about 1.5 GB
for the process and the model. Tokens alive at once:

- plain TRL batches (``shared_prefix.enabled=false``): rows x longest row (8 x ~1,500 tokens: 23+ GB, killed on a
  24 GB machine; 4 x ~1,100 tokens: 15 GB measured);
- shared-prefix batches (the default, ``shared_prefix.rows_per_chunk=1``): the prefix once plus one chunk of rows'
  suffixes (prefix + longest suffix: 4.3-4.8 GB measured at batch 8, whatever the batch size).

Other models: the per-token cost scales with hidden size x layers relative to SmolLM2 (576 x 30), the model's
share of the base with its parameter count (~12 h^2 L + vocab x h) at its weight dtype. It is an estimate (longest
rows taken together, the prefix common to all examples): the run logs it and warns, with a batch size that would
fit, when it exceeds the memory available; it never refuses. GPU runs (bf16, gradient checkpointing) are not
estimated: the calibration is CPU float32.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MB_PER_TOKEN = 1.8  # SmolLM2-135M, float32, CPU, LoRA, per token of the activations alive at once
REFERENCE_WIDTH = 576 * 30  # SmolLM2-135M: hidden size x layers
PROCESS_GB = 1.0  # Python, torch, tokenizer, datasets: ~1.5 GB with SmolLM2's 0.54 GB of float32 weights
BYTES_PER_WEIGHT = {"float32": 4.0, "float16": 2.0, "bfloat16": 2.0, "4bit": 0.5}
MB = 1e6
GB = 1e9


@dataclass(frozen=True)
class ModelShape:
    hidden_size: int
    num_layers: int
    vocab_size: int
    weight_bytes: float = 4.0  # per parameter as loaded

    @property
    def parameters(self) -> float:
        return 12 * self.hidden_size**2 * self.num_layers + self.vocab_size * self.hidden_size

    @property
    def bytes_per_token(self) -> float:
        return MB_PER_TOKEN * MB * self.hidden_size * self.num_layers / REFERENCE_WIDTH

    @property
    def base_bytes(self) -> float:
        return PROCESS_GB * GB + self.parameters * self.weight_bytes


@dataclass(frozen=True)
class MemoryEstimate:
    peak_gb: float
    available_gb: float | None
    tokens_alive: int  # tokens whose activations are alive at once
    path: str  # "plain" | "shared-prefix"
    advice: str | None  # the setting that would fit, when the estimate exceeds the memory available

    @property
    def fits(self) -> bool:
        return self.available_gb is None or self.peak_gb <= self.available_gb


def available_memory_bytes() -> int | None:
    """Memory the OS can give this process now: psutil when installed, else ``MemAvailable`` of /proc/meminfo."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def model_shape(model_path: str, model_cfg: Any, load_in_4bit: bool = False) -> ModelShape | None:
    """Hidden size, layers and vocabulary from the model's config.json (None when it cannot be read)."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(
            model_path, trust_remote_code=bool(model_cfg.get("trust_remote_code", False))
        )
    except Exception as err:  # an estimate never stops a run
        log.info("memory estimate skipped: cannot read the model config of %s (%s)", model_path, err)
        return None
    config = getattr(config, "text_config", None) or config
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    layers = (
        getattr(config, "num_hidden_layers", None)
        or getattr(config, "num_layers", None)
        or getattr(config, "n_layer", None)
    )
    if not hidden or not layers:
        log.info("memory estimate skipped: %s names no hidden size / layer count", model_path)
        return None
    dtype = "4bit" if load_in_4bit else str(model_cfg.get("dtype") or "float32")
    return ModelShape(
        int(hidden), int(layers), int(getattr(config, "vocab_size", 0) or 0), BYTES_PER_WEIGHT.get(dtype, 4.0)
    )


def estimate(
    shape: ModelShape,
    *,
    rows: int,
    longest: int,
    prefix: int,
    shared_prefix: bool,
    rows_per_chunk: int | None,
    accumulation: int = 1,
    available: int | None = None,
) -> MemoryEstimate:
    """Peak memory of the micro-batch of the ``rows`` longest examples; advice when it exceeds ``available``."""
    per_token = shape.bytes_per_token
    base = shape.base_bytes
    suffix = max(longest - prefix, 1)
    chunk = min(rows_per_chunk or rows, rows)
    if shared_prefix:
        alive = prefix + chunk * suffix
        path = "shared-prefix"
    else:
        alive = rows * longest
        path = "plain"
    peak = base + per_token * alive
    advice = None
    if available is not None and peak > available:
        room = available - base
        if shared_prefix and chunk < rows:  # the batch size hardly matters: the chunk does
            fit = math.floor((room - per_token * prefix) / (per_token * suffix))
            advice = f"shared_prefix.rows_per_chunk={fit}" if 1 <= fit < chunk else None
        else:
            per_row = per_token * (suffix if shared_prefix else longest)
            fixed = per_token * prefix if shared_prefix else 0.0
            fit = math.floor((room - fixed) / per_row)
            if fit >= 1:
                kept = math.ceil(rows * accumulation / fit)
                advice = (
                    f"trainer.per_device_train_batch_size={fit} trainer.gradient_accumulation_steps={kept} "
                    f"(the same {rows * accumulation} rows per optimizer step)"
                )
                if not shared_prefix:
                    advice += " or shared_prefix.enabled=true"
        if advice is None:
            advice = (
                f"even one row of {longest} tokens is estimated above the memory available: a smaller "
                "trainer.max_length with data.skip_longer=true, or a shorter instruction (prompt=...)"
            )
    return MemoryEstimate(
        peak_gb=peak / GB,
        available_gb=None if available is None else available / GB,
        tokens_alive=alive,
        path=path,
        advice=advice,
    )


def log_estimate(result: MemoryEstimate, rows: int, longest: int, prefix: int) -> None:
    where = f"{result.available_gb:.1f} GB available" if result.available_gb is not None else "available unknown"
    message = (
        f"memory estimate ({result.path} path, {rows} rows, longest example {longest} tokens, shared prefix "
        f"{prefix}): ~{result.peak_gb:.1f} GB peak ({result.tokens_alive} tokens alive at once), {where}"
    )
    if result.fits:
        log.info("%s", message)
    else:
        log.warning("%s: the run may be killed for memory; to fit: %s", message, result.advice)


def per_process(available: int | None) -> int | None:
    """Each of the processes training on this machine (torchrun on CPU) gets its share of the memory."""
    processes = max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1)
    return None if available is None else available // processes


def check_training_memory(
    cfg: Any, model_path: str, longest: int, prefix: int, shared_prefix: Any
) -> MemoryEstimate | None:
    """The estimate for ``cfg``'s micro-batch, logged (a warning with a batch that fits when it does not)."""
    trainer = cfg.trainer
    if not trainer.get("use_cpu", False):
        import torch

        if torch.cuda.is_available():
            log.info("memory estimate skipped: it is calibrated on CPU float32 runs, this one trains on a GPU")
            return None
    shape = model_shape(model_path, cfg.model, load_in_4bit=cfg.peft.method == "qlora")
    if shape is None:
        return None
    rows = int(trainer.get("per_device_train_batch_size") or 8)
    # The shared path falls back to plain batches with gradient checkpointing or a short prefix.
    shared = (
        shared_prefix.enabled
        and not trainer.get("gradient_checkpointing", False)
        and prefix >= shared_prefix.min_tokens
    )
    result = estimate(
        shape,
        rows=rows,
        longest=longest,
        prefix=prefix if shared else 0,
        shared_prefix=shared,
        rows_per_chunk=shared_prefix.rows_per_chunk,
        accumulation=int(trainer.get("gradient_accumulation_steps") or 1),
        available=per_process(available_memory_bytes()),
    )
    log_estimate(result, rows, longest, prefix if shared else 0)
    return result
