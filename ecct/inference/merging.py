"""Merge a run's LoRA adapter into a 16/32-bit copy of its base and save a standalone model + tokenizer
(``python -m ecct.merge adapter=<run dir> output=<folder> [dtype=bfloat16] [qlora_base=dequantized|original]``).

Never into 4-bit weights: merging into quantized weights re-quantizes the sum and loses the adapter's update,
so ``merge_adapter`` refuses a quantized model. A QLoRA adapter (the run trained on a 4-bit base) is merged into
a de-quantized base:

- ``qlora_base=dequantized`` (default): the base is loaded in 4-bit exactly as in training and de-quantized to
  ``dtype``; the adapter was trained against precisely these weights, so the merged model reproduces the
  QLoRA model's outputs.
- ``qlora_base=original``: the base is reloaded in ``dtype`` without quantization (its original weights), the
  usual choice when a finer base is wanted; outputs then differ from the QLoRA model by the quantization error.

The output folder holds the model, the tokenizer (with the run's chat template and special tokens) and a
``config.yaml`` naming the folder as the model, so ``python -m ecct.predict adapter=<output>`` uses it directly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedModel

from ecct.runs.locate import locate_run

log = logging.getLogger(__name__)

MERGE_DTYPES = ("bfloat16", "float16", "float32")
QLORA_BASES = ("dequantized", "original")


class MergeError(ValueError):
    """A merge that must not or cannot happen; the message says what to do instead."""


def is_quantized(model: torch.nn.Module) -> bool:
    """True when any weight of ``model`` is stored quantized (bitsandbytes 4/8-bit, or a quantizer is attached)."""
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        return True
    if getattr(model, "hf_quantizer", None) is not None:
        return True
    return any(type(module).__name__ in ("Linear4bit", "Linear8bitLt", "Params4bit") for module in model.modules())


def merge_adapter(base: PreTrainedModel, adapter_dir: str | Path) -> PreTrainedModel:
    """``base`` with the adapter's update added into its weights (``merge_and_unload``). Refuses quantized bases."""
    if is_quantized(base):
        raise MergeError(
            "refusing to merge a LoRA adapter into quantized (4-bit/8-bit) weights: the sum would be re-quantized "
            "and the adapter's update mostly lost. Load the base in bfloat16, float16 or float32 without "
            "quantization (or de-quantize it first); `python -m ecct.merge` does this for QLoRA runs."
        )
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, str(adapter_dir))
    return model.merge_and_unload()


def _check_dtype(dtype: str) -> torch.dtype:
    if dtype not in MERGE_DTYPES:
        raise MergeError(
            f"dtype={dtype!r}: a merged model is saved in one of {MERGE_DTYPES}; merging into quantized weights "
            f"(4-bit, 8-bit) is refused because it loses the adapter's update"
        )
    return getattr(torch, dtype)


def load_merge_base(config: DictConfig, dtype: str, qlora_base: str = "dequantized") -> PreTrainedModel:
    """The run's base model in ``dtype``: de-quantized from 4-bit for QLoRA runs (see the module docstring)."""
    from ecct.models import load_model, resolve_model_path

    torch_dtype = _check_dtype(dtype)
    if qlora_base not in QLORA_BASES:
        raise MergeError(f"qlora_base={qlora_base!r}: expected one of {QLORA_BASES}")
    model_cfg = {**OmegaConf.to_container(config.model, resolve=True), "dtype": dtype}  # type: ignore[dict-item]
    peft_cfg: dict[str, Any] = dict(OmegaConf.to_container(config.get("peft", {}), resolve=True))  # type: ignore[arg-type]
    path = resolve_model_path(model_cfg)
    if peft_cfg.get("load_in_4bit") and qlora_base == "dequantized":
        quantized = load_model(model_cfg, peft_cfg, path)
        # De-quantize before any forward pass: bitsandbytes' CPU kernel repacks 4-bit weights in place on first use.
        base = quantized.dequantize(dtype=torch_dtype)  # the very weights the adapter was trained on
        base = base if base is not None else quantized
    else:
        base = load_model(model_cfg, {"load_in_4bit": False}, path)
    base = base.to(torch_dtype)
    _clear_quantization_marks(base)
    return base


def _clear_quantization_marks(model: PreTrainedModel) -> None:
    """A de-quantized model still claims to be quantized; saving would then write a 4-bit config."""
    model.hf_quantizer = None
    model.is_quantized = False
    for flag in ("is_loaded_in_4bit", "is_loaded_in_8bit"):
        if hasattr(model, flag):
            setattr(model, flag, False)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def merge_run(
    run_path: str | Path, output: str | Path, dtype: str | None = None, qlora_base: str = "dequantized"
) -> Path:
    """Merge the adapter of the run at ``run_path`` and save model, tokenizer and config.yaml to ``output``."""
    from ecct.models import load_tokenizer, resolve_model_path

    run = locate_run(run_path)
    if run.adapter_dir is None:
        raise MergeError(f"{run_path}: has no LoRA adapter to merge (a full fine-tune or an already merged model)")
    dtype = dtype or str(run.config.model.get("dtype") or "bfloat16")
    output = Path(output).expanduser()
    if output.exists() and any(output.iterdir()):
        raise MergeError(f"output={str(output)!r} exists and is not empty; choose a new folder")
    base = load_merge_base(run.config, dtype, qlora_base)
    merged = merge_adapter(base, run.adapter_dir)
    tokenizer = load_tokenizer(run.config.model, resolve_model_path(run.config.model))
    output.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(output)
    tokenizer.save_pretrained(output)
    OmegaConf.save(merged_config(run.config, output, dtype, run.adapter_dir, qlora_base), output / "config.yaml")
    log.info("merged %s into %s (%s)", run.adapter_dir, output, dtype)
    return output


def merged_config(config: DictConfig, output: Path, dtype: str, adapter_dir: Path, qlora_base: str) -> DictConfig:
    """The run's config with the merged folder as its model and no adapter, for ``ecct.predict``."""
    merged = OmegaConf.create(OmegaConf.to_container(config, resolve=True))
    merged.model.source = "hub"
    merged.model.name_or_path = str(output.resolve())
    merged.model.dtype = dtype
    merged.model.chat_template = None  # saved with the tokenizer
    merged.peft = {"method": "none", "load_in_4bit": False}
    merged.merged_from = {"adapter": str(adapter_dir.resolve()), "qlora_base": qlora_base}
    return merged
