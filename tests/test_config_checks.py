"""Config errors a user understands: QLoRA without 4-bit, missing model paths, bf16 on CPU, a missing corpus."""

from __future__ import annotations

import itertools
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


# ---- eval/trainer switches: every combination builds its trainer arguments or is refused, naming the keys -------

SELECTION_SWITCHES = [
    ("eval.generate_during_training=true", "eval.generate_during_training=false"),
    ("eval.max_dev_documents=2", "eval.max_dev_documents=0", "eval.max_dev_documents=null"),
    # (eval_steps, save_steps): equal, a multiple, past max_steps, not a multiple
    ("trainer.eval_steps=2 trainer.save_steps=2", "trainer.eval_steps=2 trainer.save_steps=4",
     "trainer.eval_steps=1000 trainer.save_steps=1000", "trainer.eval_steps=2 trainer.save_steps=3"),
]  # fmt: skip


@pytest.mark.parametrize("switches", [" ".join(c) for c in itertools.product(*SELECTION_SWITCHES)])
def test_every_selection_combination_builds_or_is_refused(switches: str, tmp_path: Path, compose_config) -> None:
    from ecct.training.run import selection_for, sft_config

    cfg = compose_config(SMOKE, *switches.split())
    not_multiple = "save_steps=3" in switches and "max_dev_documents=0" not in switches
    if not_multiple:
        with pytest.raises(ConfigError, match=r"trainer.save_steps=3 is not a multiple of trainer.eval_steps=2"):
            check_config(cfg)
        return
    check_config(cfg)
    selection = selection_for(cfg)
    args = sft_config(cfg, tmp_path, report_to="none", selection=selection)  # transformers' own checks pass
    expected = {"0": "last"}.get(str(cfg.eval.max_dev_documents)) or (
        "dev_triplet_f1" if cfg.eval.generate_during_training else "dev_loss"
    )
    assert selection.name == expected
    assert args.load_best_model_at_end == (expected != "last")
    if expected == "dev_loss":
        assert args.metric_for_best_model == "eval_loss" and args.greater_is_better is False
    if expected == "dev_triplet_f1":
        assert args.metric_for_best_model == "eval_selection_score" and args.greater_is_better is True
    if expected == "last":
        assert args.eval_strategy == "no"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "+trainer.load_best_model_at_end=false",
            r"trainer.load_best_model_at_end is set by ecct.train.*max_dev_documents=0",
        ),
        ("+trainer.metric_for_best_model=loss", r"trainer.metric_for_best_model is set by ecct.train.*generate_during"),
        ("+trainer.eval_strategy=no", r"trainer.eval_strategy is set by ecct.train"),
        ("+trainer.output_dir=/tmp/x", r"trainer.output_dir is set by ecct.train.*hydra.run.dir"),
        ("trainer.eval_steps=0", r"trainer.eval_steps=0: expected a positive number"),
        ("trainer.per_device_train_batch_size=0", r"trainer.per_device_train_batch_size=0"),
        ("eval.max_dev_documents=-1", r"eval.max_dev_documents=-1: expected null \(all\), 0 \(no dev evaluation"),
        ("eval.max_test_documents=0", r"eval.max_test_documents=0: expected null"),
        ("eval.dev_fraction=1.0", r"eval.dev_fraction=1.0: expected a share"),
        ("eval.dev_fraction=0", r"eval.dev_fraction=0: expected a share"),
        ("eval.batch_size=0", r"eval.batch_size=0: expected a positive integer"),
        ("eval.max_new_tokens=4", r"eval.max_new_tokens=4 is too small"),
        ("eval.generate_during_training=no", r"eval.generate_during_training='no': expected true or false"),
    ],
)
def test_unrunnable_switches_are_refused_before_the_model_loads(override: str, message: str, compose_config) -> None:
    with pytest.raises(ConfigError, match=message):
        check_config(compose_config(SMOKE, override))


def test_constrained_decoding_with_json_output_is_refused(compose_config) -> None:
    check_config(compose_config(SMOKE, "eval.constrained=true"))
    with pytest.raises(ConfigError, match=r"eval.constrained=true supports prompt.output_format=lines only"):
        check_config(compose_config(SMOKE, "eval.constrained=true", "prompt.output_format=json"))
