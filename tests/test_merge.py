"""Merging: merged and unmerged models give the same logits (LoRA, and QLoRA into the de-quantized base); merging
into 4-bit weights is refused; the merged folder is a run ``ecct.predict`` can use.

Tolerances. Unmerged, a LoRA layer computes ``W x + s·B(A x)``; merged, ``(W + s·BA) x``. In float32 the two
differ only by summation order, ~1e-7 relative per layer, so after two layers and the head the logits (O(1) here)
agree to ~1e-5: we allow 1e-4, while the adapter itself moves the logits by more than 1e-2, so a merge that lost or
doubled the update fails. A QLoRA reference is coarser: bitsandbytes keeps the 4-bit weights' dtype as bfloat16
(``quant_state.dtype``) and computes those layers at bfloat16 precision (2^-8 ≈ 4e-3 relative; ~1e-3 measured on
the logits), so there the merged *weights* must equal de-quantized weight + s·BA to float32 precision, and the
logits must agree to 1e-2, ten times closer than a merge into the original (never quantized) base, which misses
by the quantization error itself (~1e-1 measured).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from ecct.data.paths import REPO_ROOT
from ecct.inference.merging import MergeError, is_quantized, merge_adapter, merge_run
from ecct.models import load_model
from ecct.runs.locate import locate_run

TINY = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "model" / "tiny.yaml"))
PROMPT = {"name": "desc", "components": ["description", "format"], "language": "en"}
QLORA = {"method": "qlora", "load_in_4bit": True, "quant_type": "nf4", "double_quant": True}
QLORA |= {"compute_dtype": "float32"}
LORA = {"method": "lora", "load_in_4bit": False}
LORA_TOLERANCE = 1e-4
QLORA_TOLERANCE = 1e-2
INPUT = torch.tensor([[1, 504, 3412, 28, 940, 1234, 2, 198, 30, 4000, 17, 9]])


def make_run(root: Path, peft: dict) -> Path:
    """A run dir with a random (non-zero) LoRA adapter trained-on-top-of ``peft``'s base (4-bit for QLoRA)."""
    run_dir = root / peft["method"]
    run_dir.mkdir()
    OmegaConf.save(OmegaConf.create({"model": TINY, "peft": peft, "prompt": PROMPT}), run_dir / "config.yaml")
    base = load_model(OmegaConf.create(TINY), peft)
    torch.manual_seed(0)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(base, lora).save_pretrained(run_dir / "adapter")
    return run_dir


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=INPUT).logits.float()


def test_merged_lora_model_reproduces_the_adapter_model(tmp_path) -> None:
    run_dir = make_run(tmp_path, LORA)
    base = load_model(OmegaConf.create(TINY), LORA)
    base_logits = logits(base)
    unmerged = logits(PeftModel.from_pretrained(base, str(run_dir / "adapter")))
    assert (unmerged - base_logits).abs().max() > 1e-2  # the adapter matters

    out = merge_run(run_dir, tmp_path / "merged", dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert not is_quantized(merged)
    assert (logits(merged) - unmerged).abs().max() < LORA_TOLERANCE

    run = locate_run(out)  # the merged folder is a run: its config names the folder, no adapter
    assert run.adapter_dir is None and run.model_dir is None
    assert run.config.model.name_or_path == str(out.resolve()) and run.config.peft.method == "none"


def test_qlora_adapter_is_merged_into_the_dequantized_base(tmp_path) -> None:
    import bitsandbytes.functional as bnb

    run_dir = make_run(tmp_path, QLORA)
    quantized = load_model(OmegaConf.create(TINY), QLORA)  # as in training
    assert is_quantized(quantized)
    base_logits = logits(quantized)
    fresh = PeftModel.from_pretrained(load_model(OmegaConf.create(TINY), QLORA), str(run_dir / "adapter"))
    # Read the 4-bit weights before any forward pass: bitsandbytes' CPU kernel repacks them in place on first use.
    layer = fresh.base_model.model.model.layers[0].self_attn.q_proj
    expected = bnb.dequantize_4bit(layer.base_layer.weight.data, layer.base_layer.weight.quant_state).float()
    expected += layer.get_delta_weight("default").float()
    reference = logits(fresh)
    assert (reference - base_logits).abs().max() > 1e-2

    out = merge_run(run_dir, tmp_path / "merged", dtype="float32")
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert not is_quantized(merged) and getattr(merged.config, "quantization_config", None) is None
    assert torch.allclose(merged.model.layers[0].self_attn.q_proj.weight, expected, atol=1e-6)
    dequantized_gap = (logits(merged) - reference).abs().max()

    original = merge_run(run_dir, tmp_path / "original", dtype="float32", qlora_base="original")
    original_gap = (logits(AutoModelForCausalLM.from_pretrained(original)) - reference).abs().max()
    assert dequantized_gap < QLORA_TOLERANCE and dequantized_gap * 10 < original_gap


def test_merging_into_4bit_weights_is_refused(tmp_path) -> None:
    run_dir = make_run(tmp_path, QLORA)
    quantized = load_model(OmegaConf.create(TINY), QLORA)
    with pytest.raises(MergeError, match=r"refusing to merge a LoRA adapter into quantized \(4-bit/8-bit\) weights"):
        merge_adapter(quantized, run_dir / "adapter")
    with pytest.raises(MergeError, match="merging into quantized weights"):
        merge_run(run_dir, tmp_path / "out", dtype="nf4")
    assert not (tmp_path / "out").exists()
