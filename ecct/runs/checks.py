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
    ("eval", "allow_empty", True),
    ("eval", "cause_outside_emotion", False),
    ("eval", "generate_during_training", True),
    ("prompt", "system_in_user", False),
    ("logger", "enabled", True),
)


# SFTConfig fields ecct.train sets itself (ecct.training.run.sft_config, ecct.training.selection): a trainer.* value
# for one of them would clash; the config key that controls each instead.
RESERVED_TRAINER_KEYS = {
    "output_dir": "hydra.run.dir (checkpoints go to <run dir>/checkpoints)",
    "seed": "seed",
    "data_seed": "data_seed",
    "eval_strategy": "eval.max_dev_documents=0 (no dev evaluation) or trainer.eval_steps",
    "save_strategy": "trainer.save_steps",
    "metric_for_best_model": "eval.generate_during_training (true: dev triplet F1, false: dev loss)",
    "greater_is_better": "eval.generate_during_training",
    "load_best_model_at_end": "eval.max_dev_documents=0 (test the last step)",
    "report_to": "logger=wandb|none",
    "run_name": "run_name",
    "include_num_input_tokens_seen": None,
}


class ConfigError(ValueError):
    """A configuration that cannot run, with the key to change."""


def check_trainer(trainer: DictConfig, evaluates: bool) -> None:
    """trainer.* settings that would fail after the model loaded (or deep inside training), refused now."""
    for key, instead in RESERVED_TRAINER_KEYS.items():
        if key in trainer:
            hint = f"; use {instead}" if instead else ""
            raise ConfigError(f"trainer.{key} is set by ecct.train itself and cannot be overridden{hint}")
    for key in ("eval_steps", "save_steps", "logging_steps"):
        value = trainer.get(key)
        if value is not None and not (isinstance(value, int | float) and not isinstance(value, bool) and value > 0):
            raise ConfigError(f"trainer.{key}={value!r}: expected a positive number of steps (or a share < 1)")
    eval_steps, save_steps = trainer.get("eval_steps"), trainer.get("save_steps")
    integral = all(isinstance(v, int) or (isinstance(v, float) and v >= 1) for v in (eval_steps, save_steps))
    if evaluates and integral and int(save_steps) % int(eval_steps):
        multiple = -(-int(save_steps) // int(eval_steps)) * int(eval_steps)
        raise ConfigError(
            f"trainer.save_steps={save_steps} is not a multiple of trainer.eval_steps={eval_steps}: the best dev "
            f"checkpoint could be one never saved (transformers refuses load_best_model_at_end then). Set "
            f"trainer.save_steps={multiple} (or trainer.eval_steps={save_steps}), or eval.max_dev_documents=0 to "
            "test the last step without dev evaluation"
        )
    batch = trainer.get("per_device_train_batch_size")
    if batch is not None and (not isinstance(batch, int) or batch < 1):
        raise ConfigError(f"trainer.per_device_train_batch_size={batch!r}: expected a positive integer")


def check_eval(evaluation: DictConfig) -> None:
    """eval.* values the run would misread: document caps, the held-out dev share, batch size."""
    dev_cap = evaluation.get("max_dev_documents")
    if dev_cap is not None and (not isinstance(dev_cap, int) or isinstance(dev_cap, bool) or dev_cap < 0):
        raise ConfigError(
            f"eval.max_dev_documents={dev_cap!r}: expected null (all), 0 (no dev evaluation: the last step is "
            "tested) or a positive number of documents"
        )
    test_cap = evaluation.get("max_test_documents")
    if test_cap is not None and (not isinstance(test_cap, int) or isinstance(test_cap, bool) or test_cap < 1):
        raise ConfigError(
            f"eval.max_test_documents={test_cap!r}: expected null (the whole test part) or a positive number"
        )
    fraction = evaluation.get("dev_fraction")
    if fraction is not None and not (isinstance(fraction, int | float) and 0 < fraction < 1):
        raise ConfigError(
            f"eval.dev_fraction={fraction!r}: expected a share of train between 0 and 1 (exclusive); "
            "eval.max_dev_documents=0 trains without dev"
        )
    batch = evaluation.get("batch_size")
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise ConfigError(f"eval.batch_size={batch!r}: expected a positive integer")


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
    check_eval(cfg.eval)
    output_format = cfg.prompt.get("output_format", "lines")
    if flag(cfg.eval, "constrained", False, "eval", ConfigError) and output_format != "lines":
        raise ConfigError(
            f"eval.constrained=true supports prompt.output_format=lines only, not {output_format!r}: set "
            "eval.constrained=false or prompt.output_format=lines"
        )
    check_trainer(cfg.trainer, evaluates=cfg.eval.get("max_dev_documents") != 0)
    if cfg.eval.max_new_tokens < 8:
        raise ConfigError(f"eval.max_new_tokens={cfg.eval.max_new_tokens} is too small to write one triplet")
