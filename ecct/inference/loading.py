"""The model of a trained run, loaded for inference as it was trained: base (4-bit for QLoRA) + adapter."""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from ecct.runs.locate import RunArtifacts
from ecct.settings import flag


def load_for_inference(run: RunArtifacts, device: str = "auto", load_in_4bit: bool | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) as the run trained them: the base (4-bit for QLoRA unless told) plus its adapter."""
    import torch

    from ecct.models import load_model, load_tokenizer, resolve_model_path

    model_cfg, peft_cfg = run.config.model, run.config.get("peft", {})
    base_path = resolve_model_path(model_cfg)
    tokenizer = load_tokenizer(model_cfg, base_path)
    quantized = flag(peft_cfg, "load_in_4bit", False, "peft") if load_in_4bit is None else load_in_4bit
    quant_cfg = {**OmegaConf.to_container(peft_cfg, resolve=True), "load_in_4bit": quantized} if peft_cfg else {}
    model = load_model(model_cfg, quant_cfg, str(run.model_dir) if run.model_dir else base_path)
    if run.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(run.adapter_dir))
    target = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if not quantized:
        model = model.to(target)
    model.eval()
    return model, tokenizer
