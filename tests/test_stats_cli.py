"""``python -m ecct.data stats``: composes the config, loads the corpus and prints the table."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

from ecct import CONF_DIR
from ecct.data import paths
from ecct.data.__main__ import main
from ecct.data.model import CATEGORIES
from ecct.data.paths import REPO_ROOT


def row(output: str, label: str) -> list[str]:
    """The cells of the table row whose label is ``label`` (all, train, valid, test)."""
    match = re.search(rf"^{re.escape(label)}\s+(.+)$", output, flags=re.MULTILINE)
    assert match, f"no row {label!r} in:\n{output}"
    return match.group(1).split()


@pytest.fixture
def no_corpora(monkeypatch, tmp_path):
    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "checkout")


def test_gui2016_counts(data_dir, capsys):
    from ecct.data.readers import read_gui2016_csv

    assert main(["stats", "data=gui2016", f"data_dir={data_dir}"]) == 0
    out = capsys.readouterr().out
    assert row(out, "documents") == ["1,947", "1,558", "194", "195"]
    # 2,169 cause annotations in the file; 13 instances repeat another line verbatim, so the distinct triplets
    # are fewer. Both are shown, the distinct count checked against the reader directly.
    assert row(out, "source pairs (before dedup)")[0] == "2,169"
    documents = read_gui2016_csv(data_dir / "gui2016_ece_rthn/datacsv_2105.csv").documents
    distinct = sum(len(doc.triplets) for doc in documents)
    assert row(out, "triplets")[0] == f"{distinct:,}"
    category_total = sum(int(row(out, f"triplets {c}")[0].replace(",", "")) for c in CATEGORIES)
    assert category_total == distinct
    assert "split split20-1" in out and "1566, 1840" in out and "nothing skipped" in out


def test_split_overrides_reach_the_split(data_dir, capsys):
    assert main(["stats", "data=gui2016", "data.split.index=3", f"data_dir={data_dir}"]) == 0
    assert "split split20-3" in capsys.readouterr().out
    assert main(["stats", "data=gui2016_ecpe", "data.split.fold=9", f"data_dir={data_dir}"]) == 0
    out = capsys.readouterr().out
    assert "split ecpe10-9" in out and "1807" in out


def test_demo_works_without_the_corpora(no_corpora, capsys):
    assert main(["stats", "data=demo"]) == 0
    out = capsys.readouterr().out
    assert row(out, "documents") == ["30", "24", "3", "3"]
    assert "corpus demo" in out and "nothing skipped" in out


def test_missing_corpora_is_a_clear_error(no_corpora, capsys):
    assert main(["stats", "data=gui2016"]) == 1
    assert "ECCT_DATA_DIR" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "code"), [([], 2), (["count"], 2), (["--help"], 0), (["stats", "data=nope"], 2)])
def test_usage_and_bad_overrides(argv, code, capsys):
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "usage: python -m ecct.data stats" in captured.out + captured.err


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "ecct.data", "stats", "data=demo"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert row(result.stdout, "documents")[0] == "30"


@pytest.mark.parametrize("value", ["no", "off", "'false'", "0"])
def test_a_switch_that_is_not_true_or_false_is_an_error_naming_it(value):
    # Hydra passes no/off/'false' through as strings, and bool("no") is True: lenient reading switched itself on.
    command = [sys.executable, "-m", "ecct.data", "stats", "data=demo", f"data.lenient={value}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "data.lenient=" in done.stderr and "expected true or false" in done.stderr
    assert "documents" not in done.stdout


def test_export_writes_the_test_part_as_a_corpus_file(data_dir, tmp_path, capsys):
    from ecct.data.corpus import load_corpus
    from ecct.data.readers.jsonl import read_jsonl

    out = tmp_path / "gui-test.jsonl"
    assert main(["export", "data=gui2016", "part=test", f"out={out}", f"data_dir={data_dir}"]) == 0
    assert "195 documents" in capsys.readouterr().out
    exported = read_jsonl(out).documents
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        corpus = load_corpus(compose("stats", overrides=["data=gui2016"]).data, data_dir=data_dir)
    expected = corpus.part("test")
    assert [doc.id for doc in exported] == [doc.id for doc in expected]
    assert [doc.triplets for doc in exported] == [doc.triplets for doc in expected]
    assert [doc.text for doc in exported] == [doc.text for doc in expected]


def test_export_refuses_a_missing_file_or_an_unknown_part_before_reading(no_corpora, tmp_path, capsys):
    assert main(["export", "data=demo"]) == 2
    assert "out=FILE.jsonl" in capsys.readouterr().err
    assert main(["export", "data=demo", "part=dev", f"out={tmp_path / 'x.jsonl'}"]) == 2
    err = capsys.readouterr().err
    assert "part='dev'" in err and "valid" in err
    assert not (tmp_path / "x.jsonl").exists()
