"""Loading a corpus from its ``data`` config: paths, readers, language, caps, errors, and the real corpora."""

from __future__ import annotations

import json
import logging

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ecct.data import paths
from ecct.data.corpus import DATA_KEYS, CorpusConfigError, load_corpus
from ecct.data.errors import DataError
from ecct.data.paths import REPO_ROOT, DataDirNotFound
from ecct.data.splits import PARTS

CONF = REPO_ROOT / "conf"
DATA_CONFIGS = sorted(p.stem for p in (CONF / "data").glob("*.yaml"))


def data_cfg(name: str, **changes):
    cfg = OmegaConf.load(CONF / "data" / f"{name}.yaml")
    for key, value in changes.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


@pytest.fixture
def no_corpora(monkeypatch, tmp_path):
    """No data dir anywhere: neither $ECCT_DATA_DIR nor ../shared/data/raw beside the checkout."""
    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "checkout")


def write_docs(path, documents):
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in documents), encoding="utf-8")


def demo_record(doc_id: str, text: str = "我今天很高兴。", start: int = 4) -> dict:
    emotion = {"text": "高兴", "start": start, "end": start + 2}
    return {
        "id": doc_id,
        "text": text,
        "language": "zh",
        "source": "t",
        "triplets": [{"emotion": emotion, "cause": {"text": "今天", "start": 1, "end": 3}, "category": "happiness"}],
    }


# ------------------------------------------------------------------------------------------------- configs


@pytest.mark.parametrize("name", DATA_CONFIGS)
def test_every_data_config_composes_with_the_same_keys(name):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("stats", overrides=[f"data={name}"])
    assert set(cfg.data) == DATA_KEYS
    assert {"scheme", "seed", "ratios", "valid_fraction"} <= set(cfg.data.split)
    assert cfg.data.name == name


def test_expected_data_configs_exist():
    assert {"gui2016", "gui2016_ecpe", "ecf", "demo", "jsonl"} <= set(DATA_CONFIGS)


# ---------------------------------------------------------------------------------------- loading (no data)


def test_demo_loads_without_a_data_dir(no_corpora, caplog):
    with caplog.at_level(logging.INFO, logger="ecct.data.corpus"):
        corpus = load_corpus(data_cfg("demo"))
    assert corpus.name == "demo" and len(corpus.documents) == 30
    assert corpus.skipped.total == 0
    assert "30 documents" in caplog.text and "nothing skipped" in caplog.text
    for part in PARTS:
        assert [doc.id for doc in corpus.part(part)] == corpus.split.parts[part]
    with pytest.raises(KeyError, match="unknown split part 'dev'"):
        corpus.part("dev")


def test_plain_mapping_config_and_a_user_jsonl_file(tmp_path, no_corpora):
    path = tmp_path / "docs.jsonl"
    write_docs(path, [demo_record(f"d{i}", text=f"我今天很高兴{i}。") for i in range(10)])
    cfg = OmegaConf.to_container(data_cfg("jsonl", path=str(path), language="zh"))
    corpus = load_corpus(cfg)
    assert sorted(doc.id for doc in corpus.documents) == sorted(f"d{i}" for i in range(10))
    assert corpus.split.sizes == {"train": 8, "valid": 1, "test": 1}
    assert corpus.path == str(path)


def test_lenient_reading_counts_skips_and_strict_reading_fails(tmp_path, no_corpora):
    path = tmp_path / "docs.jsonl"
    write_docs(path, [demo_record("good"), demo_record("bad", start=0)])  # "我今" is not "高兴"
    with pytest.raises(DataError, match="bad"):
        load_corpus(data_cfg("jsonl", path=str(path)))
    corpus = load_corpus(data_cfg("jsonl", path=str(path), lenient=True))
    assert [doc.id for doc in corpus.documents] == ["good"]
    assert corpus.skipped.total == 1


def test_max_documents_keeps_the_first_of_each_part(no_corpora):
    full = load_corpus(data_cfg("demo"))
    capped = load_corpus(data_cfg("demo", max_documents=2))
    for part in PARTS:
        assert capped.split.parts[part] == full.split.parts[part][:2]
    assert {doc.id for doc in capped.documents} == {i for ids in capped.split.parts.values() for i in ids}
    assert "max_documents=2" in capped.split.notes[-1]
    with pytest.raises(CorpusConfigError, match="max_documents must be a positive integer"):
        load_corpus(data_cfg("demo", max_documents=0))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"reader": "csv"}, CorpusConfigError, "unknown reader 'csv'; expected one of"),
        ({"file": "x.jsonl"}, CorpusConfigError, "exactly one of 'file'"),
        ({"path": None}, CorpusConfigError, "exactly one of 'file'"),
        ({"path": "/nonexistent/docs.jsonl"}, FileNotFoundError, "/nonexistent/docs.jsonl does not exist"),
        ({"language": "fr"}, CorpusConfigError, "data.language must be one of"),
        ({"language": "zh"}, DataError, "language 'en' but data.language is 'zh' \\(15 such documents\\)"),
        ({"split": {"scheme": "random", "index": 2, "fold": 3}}, CorpusConfigError, "'fold' is another name"),
        ({"split": {"scheme": "random", "folds": 3}}, CorpusConfigError, "unknown key\\(s\\) \\['folds'\\]"),
        ({"split": {"scheme": "random", "ratios": [0.5, 0.5]}}, ValueError, "ratios"),
        ({"max_docs": 3}, CorpusConfigError, "unknown key\\(s\\) \\['max_docs'\\]"),
    ],
)
def test_bad_configs_name_the_key(no_corpora, changes, error, message):
    cfg = OmegaConf.to_container(data_cfg("demo"))
    cfg.update(changes)
    with pytest.raises(error, match=message):
        load_corpus(cfg)


def test_missing_user_path_and_missing_corpora_say_what_to_do(no_corpora):
    with pytest.raises(CorpusConfigError, match=r"data\.path is required"):
        load_corpus(data_cfg("jsonl"))
    with pytest.raises(DataDirNotFound, match="ECCT_DATA_DIR"):
        load_corpus(data_cfg("gui2016"))


def test_a_data_dir_without_the_corpus_file_names_the_file(tmp_path):
    with pytest.raises(DataDirNotFound, match=r"datacsv_2105\.csv does not exist"):
        load_corpus(data_cfg("gui2016"), data_dir=tmp_path)


# --------------------------------------------------------------------------------------------- real data


def test_gui2016_config(data_dir):
    corpus = load_corpus(data_cfg("gui2016"), data_dir=data_dir)
    assert len(corpus.documents) == 1947 and corpus.language == "zh"
    assert corpus.split.name == "split20-1"
    assert corpus.split.sizes == {"train": 1558, "valid": 194, "test": 195}


def test_gui2016_ecpe_config_takes_fold_or_index(data_dir):
    by_fold = load_corpus(data_cfg("gui2016_ecpe", **{"split.fold": 3}), data_dir=data_dir)
    assert by_fold.split.name == "ecpe10-3"
    cfg = OmegaConf.to_container(data_cfg("gui2016_ecpe"))
    cfg["split"] = {**cfg["split"], "fold": None, "index": 3}
    assert load_corpus(cfg, data_dir=data_dir).split == by_fold.split
    official = load_corpus(
        data_cfg("gui2016_ecpe", **{"split.fold": 3, "split.valid_fraction": 0.0}), data_dir=data_dir
    )
    assert official.split.parts["valid"] == []
    assert official.split.parts["test"] == by_fold.split.parts["test"]
    assert set(official.split.parts["train"]) == set(by_fold.split.parts["train"]) | set(by_fold.split.parts["valid"])


def test_ecf_config(data_dir):
    corpus = load_corpus(data_cfg("ecf"), data_dir=data_dir)
    assert len(corpus.documents) == 1374 and corpus.language == "en"
    assert corpus.split.sizes == {"train": 1001, "valid": 112, "test": 261}
