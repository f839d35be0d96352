"""Where the corpora are read from: a folder the user gives is used or refused, never silently replaced."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ecct.data import paths
from ecct.data.__main__ import main
from ecct.data.paths import DataDirNotFound, resolve_data_dir

ECF = "ecf2_semeval2024_task3/Subtask_1_train.json"
ONE_CONVERSATION = [
    {
        "conversation_ID": 1,
        "conversation": [{"utterance_ID": 1, "text": "I won !", "speaker": "Ann", "emotion": "joy"}],
        "emotion-cause_pairs": [["1_joy", "1_I won !"]],
    }
]


@pytest.fixture
def checkout(monkeypatch, tmp_path: Path) -> Path:
    """A checkout whose default corpus folder (``../shared/data/raw``) exists and holds a tiny ECF file."""
    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "checkout")
    default = tmp_path / "shared" / "data" / "raw"
    (default / ECF).parent.mkdir(parents=True)
    (default / ECF).write_text(json.dumps(ONE_CONVERSATION), encoding="utf-8")
    return default


STATS = ["stats", "data=ecf", "data.split.scheme=random"]


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_data_dir_that_is_not_a_folder_is_an_error(checkout: Path, tmp_path: Path, capsys, kind: str) -> None:
    given = tmp_path / "nonexistent" / "raw"
    if kind == "file":
        given = tmp_path / "a_file"
        given.write_text("x", encoding="utf-8")
    # The old code fell back to the folder beside the checkout and exited 0.
    assert main([*STATS, f"data_dir={given}"]) == 1
    err = capsys.readouterr().err
    assert f"data_dir={given}" in err
    assert ("does not exist" if kind == "missing" else "is not a folder") in err


def test_an_ecct_data_dir_that_does_not_exist_is_an_error(checkout: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("ECCT_DATA_DIR", "/nonexistent")
    assert main(STATS) == 1  # conf/stats.yaml passes the variable on as data_dir
    assert "data_dir (from ECCT_DATA_DIR)=/nonexistent" in capsys.readouterr().err
    with pytest.raises(DataDirNotFound, match=r"ECCT_DATA_DIR=/nonexistent: the corpus folder .* does not exist"):
        resolve_data_dir(None)


def test_the_folder_beside_the_checkout_is_used_only_when_none_is_given(checkout: Path, caplog, capsys) -> None:
    with caplog.at_level(logging.INFO, logger="ecct.data.paths"):
        assert resolve_data_dir(None) == checkout.resolve()
        assert main(STATS) == 0
    assert f"corpus folder: {checkout.resolve()} (none given" in caplog.text
    assert "corpus ecf" in capsys.readouterr().out


def test_a_given_folder_is_used_and_logged(checkout: Path, tmp_path: Path, caplog) -> None:
    other = tmp_path / "other"
    other.mkdir()
    with caplog.at_level(logging.INFO, logger="ecct.data.paths"):
        assert resolve_data_dir(other) == other.resolve()
    assert f"corpus folder: {other.resolve()} (from data_dir)" in caplog.text
