"""Shared fixtures: the real corpus folder (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
