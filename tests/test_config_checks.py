"""Config errors a user understands: QLoRA without 4-bit, missing model paths, bf16 on CPU, a missing corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ecct.data.paths import REPO_ROOT, DataDirNotFound
from ecct.models import ModelConfigError, resolve_model_path
from ecct.runs.checks import ConfigError, check_config

SMOKE = "+experiment=smoke"


def test_default_configs_pass(compose_config) -> None:
    check_config(compose_config(SMOKE))
    check_config(compose_config(SMOKE, "peft=qlora"))


def test_qlora_without_bitsandbytes_is_explained(monkeypatch: pytest.MonkeyPatch, compose_config) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import now fails as if not installed
    with pytest.raises(ConfigError, match=r"peft=qlora needs bitsandbytes 4-bit.*use peft=lora"):
        check_config(compose_config(SMOKE, "peft=qlora"))


def test_4bit_without_qlora_is_refused(compose_config) -> None:
    with pytest.raises(ConfigError, match="load_in_4bit=true only goes with peft=qlora"):
        check_config(compose_config(SMOKE, "peft=lora", "peft.load_in_4bit=true"))


def test_missing_local_model_path_is_named(tmp_path: Path, compose_config) -> None:
    missing = tmp_path / "no-such-model"
    cfg = compose_config(SMOKE, "model=qwen2_5_0_5b_instruct", f"model.name_or_path={missing}")
    with pytest.raises(ModelConfigError, match=f"{missing}.*does not exist"):
        check_config(cfg)
    with pytest.raises(ModelConfigError, match="does not exist"):
        resolve_model_path(cfg.model)


def test_hub_ids_pass_through_unchanged(compose_config) -> None:
    cfg = compose_config(SMOKE, "model=qwen2_5_7b_instruct")
    assert resolve_model_path(cfg.model) == "Qwen/Qwen2.5-7B-Instruct"


def test_bf16_on_cpu_is_refused(compose_config) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: bf16 is allowed")
    with pytest.raises(ConfigError, match="bf16/fp16=true needs a CUDA GPU"):
        check_config(compose_config(SMOKE, "trainer=gpu"))


def test_missing_corpus_says_how_to_obtain_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, compose_config) -> None:
    import ecct.data.paths as paths
    from ecct.data.corpus import load_corpus

    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "checkout")
    cfg = compose_config(SMOKE, "data=gui2016", "data_dir=null")
    with pytest.raises(DataDirNotFound, match=r"README.s .Data. section.*ECCT_DATA_DIR"):
        load_corpus(cfg.data, cfg.data_dir)


@pytest.mark.parametrize("trainer", sorted(p.stem for p in (REPO_ROOT / "conf" / "trainer").glob("*.yaml")))
def test_every_trainer_preset_builds_the_training_arguments(trainer: str, tmp_path: Path, compose_config) -> None:
    # A key TrainingArguments no longer knows (trainer=gpu once had warmup_ratio) only failed on the GPU box.
    from ecct.training.run import sft_config

    cfg = compose_config(
        SMOKE, f"trainer={trainer}", "trainer.bf16=false", "trainer.fp16=false", "trainer.use_cpu=true"
    )
    args = sft_config(cfg, tmp_path, report_to="none")
    assert args.learning_rate == cfg.trainer.learning_rate
    assert args.per_device_train_batch_size == cfg.trainer.per_device_train_batch_size


@pytest.mark.parametrize("key", ["data.lenient", "data.skip_longer", "eval.constrained", "eval.prefix_cache"])
def test_switches_must_be_true_or_false(key: str, compose_config) -> None:
    check_config(compose_config(SMOKE, f"++{key}=true"))
    with pytest.raises(ConfigError, match=rf"{key}='no': expected true or false"):
        check_config(compose_config(SMOKE, f"++{key}=no"))  # bool("no") would be True
