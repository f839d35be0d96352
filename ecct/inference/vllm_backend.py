"""The vLLM backend of ``ecct.predict``: the base model + LoRA adapter served with prefix caching (a GPU).

It only replaces the decoding step: prompts, stop tokens and parsing are those of ``ecct.inference.documents``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ecct.inference.inputs import PredictError
from ecct.runs.locate import RunArtifacts
from ecct.settings import flag

BACKENDS = ("auto", "transformers", "vllm")
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for ``max_lora_rank``: the adapter's rank is rounded up to one of them."""


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def vllm_lora_rank(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that fits an adapter of rank ``rank``."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise PredictError(f"LoRA rank {rank} exceeds vLLM's largest max_lora_rank {VLLM_LORA_RANKS[-1]}")


def vllm_engine_args(run: RunArtifacts, base_path: str, max_model_len: int | None = None) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM``: the base (or full fine-tuned) model, LoRA on, prefix caching on."""
    model_cfg = run.config.model
    args: dict[str, Any] = {
        "model": str(run.model_dir) if run.model_dir else base_path,
        "tokenizer": base_path,
        "dtype": str(model_cfg.get("dtype") or "auto"),
        "trust_remote_code": flag(model_cfg, "trust_remote_code", False, "model", PredictError),
        "enable_prefix_caching": True,  # the shared instruction is computed once per engine
        "seed": 0,
    }
    if max_model_len:
        args["max_model_len"] = int(max_model_len)
    rank = run.lora_rank
    if rank is not None:
        args.update(enable_lora=True, max_loras=1, max_lora_rank=vllm_lora_rank(rank))
    return args


def vllm_sampling_args(max_new_tokens: int, stop_ids: Sequence[int]) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams``: greedy, the training stop tokens, special tokens stripped."""
    return {
        "temperature": 0.0,
        "max_tokens": int(max_new_tokens),
        "stop_token_ids": list(stop_ids),
        "skip_special_tokens": True,
    }


def generate_vllm(run: RunArtifacts, prompts: Sequence[Any], max_new_tokens: int, progress: bool) -> list[str]:
    """Greedy completions through vLLM, prompts rendered with the training chat template (token ids)."""
    if not vllm_available():
        raise PredictError("backend=vllm needs vLLM: pip install '.[vllm]' (a CUDA GPU is required)")
    from vllm import LLM, SamplingParams  # type: ignore[import-not-found]
    from vllm.lora.request import LoRARequest  # type: ignore[import-not-found]

    from ecct.decoding.generate import render_prompts
    from ecct.models import load_tokenizer, resolve_model_path

    base_path = resolve_model_path(run.config.model)
    tokenizer = load_tokenizer(run.config.model, base_path)
    encoded = render_prompts(tokenizer, prompts)
    stops = sorted({tokenizer.eos_token_id, *_configured_stops(base_path)} - {None})
    llm = LLM(**vllm_engine_args(run, base_path))
    lora = LoRARequest("ecct-adapter", 1, str(run.adapter_dir)) if run.adapter_dir else None
    results = llm.generate(
        [{"prompt_token_ids": ids} for ids in encoded],
        SamplingParams(**vllm_sampling_args(max_new_tokens, stops)),
        lora_request=lora,
        use_tqdm=progress,
    )
    return [result.outputs[0].text.strip() for result in results]


def _configured_stops(model_path: str) -> list[int]:
    try:
        from transformers import GenerationConfig

        configured = GenerationConfig.from_pretrained(model_path).eos_token_id
    except OSError:
        return []
    return [configured] if isinstance(configured, int) else list(configured or [])


def choose_backend(requested: str, constrained: bool) -> str:
    """``transformers`` or ``vllm``; ``auto`` picks vLLM when installed, on a GPU, and decoding is unconstrained."""
    if requested not in BACKENDS:
        raise PredictError(f"backend={requested!r}: expected one of {BACKENDS}")
    if requested == "vllm":
        if constrained:
            raise PredictError(
                "constrained decoding (predict's default) runs on the transformers backend only: add constrained=false"
                " for backend=vllm, or set backend=transformers"
            )
        return "vllm"
    if requested == "transformers" or constrained or not vllm_available():
        return "transformers"
    import torch

    return "vllm" if torch.cuda.is_available() else "transformers"
