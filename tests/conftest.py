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
