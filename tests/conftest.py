"""Shared fixtures: the real corpus folder (skipped with a reason when absent), config composition, CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]  # fixed here: some tests point ecct.data.paths.REPO_ROOT elsewhere

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real corpora (../shared/data/raw or $ECCT_DATA_DIR); tests that need them skip when absent."""
    from ecct.data.paths import DataDirNotFound, resolve_data_dir

    try:
        return resolve_data_dir()
    except DataDirNotFound as err:
        pytest.skip(f"real corpora absent: {err}")


# ---- shared helpers, as fixtures: composing the Hydra configs and running a command in a subprocess ----------


def _compose(*overrides: str, conf_dir: Path | None = None, config_name: str = "config", hydra: bool = False):
    """The config a command would see (``conf/config.yaml`` unless told), without running it."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(conf_dir or CHECKOUT / "conf"), version_base="1.3"):
        return compose(config_name, overrides=list(overrides), return_hydra_config=hydra)


def _run_module(
    module: str, *args: str, timeout: int = 900, env: dict[str, str] | None = None, cwd: Path | None = None
):
    """``python -m module args...`` from the repository root, offline W&B, output captured, never raising."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd or CHECKOUT,
        env={**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def compose_config():
    """``compose_config(*overrides, conf_dir=conf/, config_name="config", hydra=False)`` -> DictConfig."""
    return _compose


@pytest.fixture(scope="session")
def run_module():
    """``run_module("ecct.train", *args, timeout=900, env=None, cwd=repo)`` -> CompletedProcess."""
    return _run_module


# ---- tiny SFT runs: trainer arguments and PEFT settings shared by the training tests ----------------------------


def _sft_args(output_dir: Path, **overrides):
    """CPU, float32, no W&B, 2 steps at batch 2, nothing saved: override what a test needs."""
    from trl import SFTConfig

    base = {
        "output_dir": str(output_dir),
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "learning_rate": 1e-2,
        "bf16": False,
        "gradient_checkpointing": False,
        "use_cpu": True,
        "report_to": "none",
        "logging_steps": 1,
        "save_strategy": "no",
        "max_length": 1024,
        "seed": 0,
    }
    return SFTConfig(**(base | overrides))


def _peft_settings(method: str):
    """A ``{"peft": ...}`` config for ``lora_config``/``load_model``: r 4, no dropout (runs compare exactly)."""
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "peft": {
                "method": method,
                "r": 4,
                "alpha": 8,
                "dropout": 0.0,
                "target_modules": "all-linear",
                "load_in_4bit": method == "qlora",
                "compute_dtype": "float32",
            }
        }
    )


@pytest.fixture(scope="session")
def sft_args():
    """``sft_args(output_dir, **SFTConfig overrides)`` -> SFTConfig for a tiny CPU run."""
    return _sft_args


@pytest.fixture(scope="session")
def peft_settings():
    """``peft_settings("lora" | "qlora" | "none")`` -> ``{"peft": ...}`` config."""
    return _peft_settings
