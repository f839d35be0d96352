"""The demo corpus shipped in the package: valid, bilingual, every category, and a deterministic random split."""

from __future__ import annotations

import re
from collections import defaultdict
from importlib import resources

import pytest
from hydra import compose, initialize_config_dir

from ecct.data import paths
from ecct.data.corpus import Corpus, load_corpus
from ecct.data.model import CATEGORIES, LANGUAGES
from ecct.data.paths import REPO_ROOT
from ecct.data.splits import PARTS, make_split

CLAUSE_PUNCTUATION = re.compile(r"[，。；！？：、,.;!?:]")


@pytest.fixture(scope="module")
def demo() -> Corpus:
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("stats", overrides=["data=demo"])
    return load_corpus(cfg.data, data_dir=cfg.data_dir)


def test_demo_is_package_data_and_needs_no_corpus_folder(monkeypatch, tmp_path):
    assert resources.files("ecct.data").joinpath("demo/demo.jsonl").is_file()
    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path)  # no ../shared/data/raw either
    with initialize_config_dir(config_dir=str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("stats", overrides=["data=demo"])
    assert len(load_corpus(cfg.data).documents) == 30


def test_documents_validate_and_are_bilingual(demo):
    assert len(demo.documents) == 30
    for doc in demo.documents:
        doc.validate("demo.jsonl")
        assert doc.source == "demo"
        assert re.fullmatch(rf"{doc.language}-\d\d", doc.id), doc.id
    by_language = defaultdict(list)
    for doc in demo.documents:
        by_language[doc.language].append(doc)
    assert {lang: len(docs) for lang, docs in by_language.items()} == {"zh": 15, "en": 15}
    for doc in by_language["zh"]:
        assert 30 <= len(doc.text) <= 90, doc.id


def test_every_category_in_both_languages(demo):
    for language in LANGUAGES:
        found = {t.category for doc in demo.documents if doc.language == language for t in doc.triplets}
        assert found == set(CATEGORIES), language


def test_shapes_the_demo_must_show(demo):
    empty = [doc.id for doc in demo.documents if not doc.triplets]
    assert 2 <= len(empty) <= 3
    one_emotion_two_causes = [
        doc for doc in demo.documents if len(doc.emotions) == 1 and len({t.cause for t in doc.triplets}) >= 2
    ]
    two_emotions = [doc for doc in demo.documents if len(doc.emotions) >= 2]
    for language in LANGUAGES:
        assert any(doc.language == language for doc in one_emotion_two_causes), language
        assert any(doc.language == language for doc in two_emotions), language


def test_spans_look_like_the_gui_corpus(demo):
    for doc in demo.documents:
        for triplet in doc.triplets:
            assert not CLAUSE_PUNCTUATION.search(triplet.cause.text), (doc.id, triplet.cause.text)
            assert not CLAUSE_PUNCTUATION.search(triplet.emotion.text), (doc.id, triplet.emotion.text)
            assert len(triplet.emotion.text) < len(triplet.cause.text), (doc.id, triplet)
            # Emotion and cause are different pieces of the text.
            assert triplet.emotion.end <= triplet.cause.start or triplet.cause.end <= triplet.emotion.start


def test_random_split_is_disjoint_and_deterministic_per_seed(demo):
    assert demo.split.name == "random-seed42"
    ids = [i for part in PARTS for i in demo.split.parts[part]]
    assert sorted(ids) == sorted(doc.id for doc in demo.documents)
    texts = [doc.text for part in PARTS for doc in demo.part(part)]
    assert len(set(texts)) == len(texts)
    assert demo.split.sizes == {"train": 24, "valid": 3, "test": 3}
    assert make_split(demo.documents, "random", seed=42) == demo.split
    others = {tuple(make_split(demo.documents, "random", seed=s).parts["test"]) for s in range(5)}
    assert len(others) > 1, "the seed must change the split"
