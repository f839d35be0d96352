"""Config validation before anything heavy loads: errors that say what to change."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ecct.models import SOURCES, ModelConfigError, looks_like_local_path
from ecct.settings import flag

PEFT_METHODS = ("lora", "qlora", "none")
# Switches read with a plain truth test would take "no" or "0" for true: they must be written true/false.
BOOLEAN_KEYS = (
    ("data", "lenient", False),
    ("data", "skip_longer", False),
    ("eval", "constrained", False),
    ("eval", "prefix_cache", True),
    ("eval", "generate_during_training", True),
    ("prompt", "system_in_user", False),
    ("logger", "enabled", True),
)


class ConfigError(ValueError):
    """A configuration that cannot run, with the key to change."""


def check_config(cfg: DictConfig) -> None:
    method = cfg.peft.method
    if method not in PEFT_METHODS:
        raise ConfigError(f"peft.method={method!r} is unknown; expected one of {PEFT_METHODS}")
    if cfg.peft.get("load_in_4bit") and method != "qlora":
        raise ConfigError("peft.load_in_4bit=true only goes with peft=qlora (4-bit base weights need an adapter)")
    if method == "qlora":
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as err:
            raise ConfigError(
                f"peft=qlora needs bitsandbytes 4-bit, which cannot be imported here ({err}); use peft=lora"
            ) from err
    if cfg.model.source not in SOURCES:
        raise ModelConfigError(f"model.source={cfg.model.source!r} is unknown; expected one of {SOURCES}")
    name = cfg.model.get("name_or_path")
    local_path = cfg.model.source == "hub" and name and looks_like_local_path(name)
    if local_path and not Path(str(name)).expanduser().exists():
        raise ModelConfigError(f"model.name_or_path={name!r} does not exist (a local model folder was expected)")
    if cfg.trainer.get("bf16") or cfg.trainer.get("fp16"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("trainer.bf16/fp16=true needs a CUDA GPU; on CPU use trainer=cpu (float32)")
    for group, key, default in BOOLEAN_KEYS:
        flag(cfg.get(group), key, default, group, ConfigError)
    if cfg.eval.max_new_tokens < 8:
        raise ConfigError(f"eval.max_new_tokens={cfg.eval.max_new_tokens} is too small to write one triplet")
