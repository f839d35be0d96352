"""Document-level splits: properties on synthetic corpora and split files, and on the real Gui and ECF corpora."""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecct.data.model import Document
from ecct.data.paths import DataDirNotFound
from ecct.data.splits import (
    ECF_SPLIT_FILES,
    ECPE_FOLD_FILE,
    PARTS,
    SPLIT20_FILE,
    Split,
    SplitError,
    make_split,
)

# ------------------------------------------------------------------------------------------------ helpers


def docs(texts: Sequence[str], ids: Sequence[str] | None = None) -> list[Document]:
    ids = ids or [str(i + 1) for i in range(len(texts))]
    return [Document(doc_id, text, "zh", "synthetic") for doc_id, text in zip(ids, texts, strict=True)]


def assert_disjoint_cover(split: Split, documents: Sequence[Document]) -> None:
    """No id and no text in two parts; together the parts hold every document exactly once."""
    by_id = {doc.id: doc for doc in documents}
    listed = [doc_id for part in PARTS for doc_id in split.parts[part]]
    assert Counter(listed) == Counter(by_id.keys()), "parts must cover the corpus, each document once"
    text_part: dict[str, str] = {}
    for part in PARTS:
        for doc_id in split.parts[part]:
            assert text_part.setdefault(by_id[doc_id].text, part) == part, f"text of {doc_id} in two parts"


def write_blocks(path: Path, ids: Sequence[str]) -> None:
    """A fold/ECF file in the block format: header 'id count', a pairs line, then count lines."""
    lines = []
    for doc_id in ids:
        lines += [f"{doc_id} 2", " (1,2)", "1,null,null,一 句", "2,happiness,高兴,高兴 了"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_ecpe(root: Path, folds: Sequence[Sequence[str]]) -> None:
    for k, ids in enumerate(folds, start=1):
        write_blocks(root / ECPE_FOLD_FILE.format(index=k), ids)


def write_split20(root: Path, splits: Sequence[dict[str, list[str]]]) -> None:
    payload = {
        "_meta": {},
        "split20": {f"fold{k}": {p: [int(i) for i in s[p]] for p in PARTS} for k, s in enumerate(splits, 1)},
    }
    (root / SPLIT20_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / SPLIT20_FILE).write_text(json.dumps(payload), encoding="utf-8")


def official_ids(path: Path) -> list[str]:
    """Header ids of a block file by a plain regex (an independent reading of the format)."""
    return re.findall(r"^(\d+) \d+$", path.read_text(encoding="utf-8"), flags=re.MULTILINE)


# ----------------------------------------------------------------------------------------- random scheme

texts_strategy = st.lists(st.sampled_from([f"text {i}" for i in range(40)]), min_size=1, max_size=60)
ratios_strategy = st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (1.0, 0.0, 0.0), (0.5, 0.0, 0.5)])


@settings(max_examples=150, deadline=None)
@given(texts=texts_strategy, seed=st.integers(0, 2**32), ratios=ratios_strategy)
def test_random_split_is_disjoint_covering_and_deterministic(texts, seed, ratios):
    documents = docs(texts)  # texts repeat on purpose: identical texts must share a part
    split = make_split(documents, "random", seed=seed, ratios=ratios)
    assert_disjoint_cover(split, documents)
    assert make_split(list(documents), "random", seed=seed, ratios=ratios) == split
    assert split.name == f"random-seed{seed}"
    for part, ratio in zip(PARTS[1:], ratios[1:], strict=True):
        if ratio == 0:
            assert split.parts[part] == []
    # Within a part, documents keep corpus order.
    order = {doc.id: i for i, doc in enumerate(documents)}
    for ids in split.parts.values():
        assert ids == sorted(ids, key=order.__getitem__)


def test_random_split_sizes_follow_ratios_and_seed_matters():
    documents = docs([f"document {i}" for i in range(200)])
    split = make_split(documents, "random", seed=1)
    assert split.sizes == {"train": 160, "valid": 20, "test": 20}
    assert make_split(documents, "random", seed=2).parts["test"] != split.parts["test"]


def test_random_split_keeps_a_test_document_in_tiny_corpora():
    split = make_split(docs(["a", "b", "c", "d", "e"]), "random", seed=0)
    assert split.sizes["test"] >= 1 and split.sizes["valid"] >= 1 and split.sizes["train"] >= 1


@pytest.mark.parametrize("ratios", [(0.8, 0.1), (0.5, 0.1, 0.1), (0.0, 0.5, 0.5), (1.1, -0.1, 0.0)])
def test_random_split_rejects_bad_ratios(ratios):
    with pytest.raises(SplitError, match="ratios"):
        make_split(docs(["a", "b"]), "random", ratios=ratios)


def test_duplicate_corpus_ids_and_unknown_scheme_are_errors():
    with pytest.raises(SplitError, match="'7' occurs twice"):
        make_split(docs(["a", "b"], ids=["7", "7"]), "random")
    with pytest.raises(SplitError, match="unknown split scheme 'kfold'"):
        make_split(docs(["a"]), "kfold")


def test_split_rejects_an_id_in_two_parts():
    with pytest.raises(SplitError, match="'3' is listed in both 'train' and 'test'"):
        Split("x", {"train": ["3"], "valid": [], "test": ["3"]})


# ------------------------------------------------------------------------------------ file-based schemes


@st.composite
def listed_corpus(draw):
    """A corpus, a fold assignment of some of its ids, unknown ids in the files and unlisted documents."""
    n = draw(st.integers(3, 40))
    documents = docs([f"text {i}" for i in range(n)])
    fold_of = [draw(st.integers(0, 10)) for _ in range(n)]  # 0: listed by no fold
    unknown = draw(st.lists(st.integers(1000, 1100), unique=True, max_size=5))
    unknown_fold = [draw(st.integers(1, 10)) for _ in unknown]
    return documents, fold_of, [str(u) for u in unknown], unknown_fold


@settings(max_examples=60, deadline=None)
@given(case=listed_corpus(), index=st.integers(1, 10), seed=st.integers(0, 1000))
def test_ecpe10_properties_on_synthetic_folds(case, index, seed):
    documents, fold_of, unknown, unknown_fold = case
    folds: list[list[str]] = [[] for _ in range(10)]
    for doc, k in zip(documents, fold_of, strict=True):
        if k:
            folds[k - 1].append(doc.id)
    for doc_id, k in zip(unknown, unknown_fold, strict=True):
        folds[k - 1].append(doc_id)
    with tempfile.TemporaryDirectory() as tmp:
        write_ecpe(Path(tmp), folds)
        split = make_split(documents, "ecpe10", data_dir=tmp, index=index, seed=seed)
    assert_disjoint_cover(split, documents)
    assert split.parts["test"] == [doc_id for doc_id in folds[index - 1] if doc_id not in unknown]
    unlisted = [doc.id for doc, k in zip(documents, fold_of, strict=True) if k == 0]
    assert set(unlisted) <= set(split.parts["train"]), "documents no fold lists are trained on, never evaluated"
    official_train = [doc.id for doc, k in zip(documents, fold_of, strict=True) if k not in (0, index)]
    assert set(split.parts["valid"]) <= set(official_train)
    assert len(split.parts["valid"]) == round(0.1 * len(official_train))
    notes = " | ".join(split.notes)
    # Every id of no corpus document is counted (per part) and quoted.
    counted = re.findall(r"(\d+) \w+ id\(s\) of \S+ are not in the corpus", notes)
    assert sum(map(int, counted)) == len(unknown)
    assert all(doc_id in notes for doc_id in unknown)
    if unlisted:
        assert f"{len(unlisted)} corpus document(s)" in notes


@settings(max_examples=60, deadline=None)
@given(case=listed_corpus(), index=st.integers(1, 3))
def test_split20_properties_on_synthetic_files(case, index):
    documents, fold_of, unknown, _ = case
    # Three splits; fold_of decides the part in split ``index`` (1-3 train, 4 valid, 5+ test, 0 unlisted).
    part_of = {1: "train", 2: "train", 3: "train", 4: "valid"}
    listed = {p: [] for p in PARTS}
    for doc, k in zip(documents, fold_of, strict=True):
        if k:
            listed[part_of.get(k, "test")].append(doc.id)
    listed["test"] += unknown
    splits = [{p: [] for p in PARTS}] * 3
    splits = [listed if k == index else s for k, s in enumerate(splits, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        write_split20(Path(tmp), splits)
        split = make_split(documents, "split20", data_dir=tmp, index=index)
    assert_disjoint_cover(split, documents)
    assert split.parts["valid"] == listed["valid"]
    assert split.parts["test"] == [i for i in listed["test"] if i not in unknown]
    unlisted = [doc.id for doc, k in zip(documents, fold_of, strict=True) if k == 0]
    assert split.parts["train"] == listed["train"] + unlisted


def test_instance_alias_is_ignored_and_reported(tmp_path):
    """A listed id that is an instance merged into another document (ECPE's doc 1807) is not a document."""
    documents = docs(["a", "b", "c", "d"], ids=["1", "2", "3", "4"])
    documents[1].meta["instance_ids"] = [2, 9]  # instance 9 repeats document 2's text
    write_ecpe(tmp_path, [["1"], ["2"], ["9", "3"], ["4"], [], [], [], [], [], []])
    split = make_split(documents, "ecpe10", data_dir=tmp_path, index=3, seed=0)
    assert split.parts["test"] == ["3"]
    assert split.part_of("2") in ("train", "valid")
    assert any("id 9" in note and "document 2" in note for note in split.notes)
    assert_disjoint_cover(split, documents)


def test_ecf_scheme_maps_the_three_files(tmp_path):
    documents = docs(["a", "b", "c", "d", "e"])
    for part, ids in zip(PARTS, (["1", "2"], ["3"], ["4", "77"]), strict=True):
        write_blocks(tmp_path / ECF_SPLIT_FILES[part], ids)
    split = make_split(documents, "ecf", data_dir=tmp_path)
    assert split.parts == {"train": ["1", "2", "5"], "valid": ["3"], "test": ["4"]}
    assert any("1 test id(s)" in note and "77" in note for note in split.notes)
    assert any("5" in note and "added to train" in note for note in split.notes)


@pytest.mark.parametrize(("scheme", "index"), [("ecpe10", 0), ("ecpe10", 11), ("split20", 4), ("split20", "2")])
def test_bad_index_names_the_files(tmp_path, scheme, index):
    write_ecpe(tmp_path, [[str(k)] for k in range(1, 11)])
    write_split20(tmp_path, [{"train": ["1"], "valid": [], "test": []}] * 3)
    with pytest.raises(SplitError, match=r"index must be an integer in 1\.\.(10|3) \(.*(fold|split_doc_ids)"):
        make_split(docs(["a"]), scheme, data_dir=tmp_path, index=index)


def test_missing_split_file_names_it(tmp_path):
    write_ecpe(tmp_path, [["1"]] * 9)  # fold10 missing
    with pytest.raises(DataDirNotFound, match=r"fold10_test\.txt does not exist.*ECCT_DATA_DIR"):
        make_split(docs(["a"]), "ecpe10", data_dir=tmp_path, index=1)
    with pytest.raises(DataDirNotFound, match=r"split_doc_ids\.derived\.json does not exist"):
        make_split(docs(["a"]), "split20", data_dir=tmp_path, index=1)


def test_malformed_split_files_are_errors_with_file_and_line(tmp_path):
    write_ecpe(tmp_path, [[str(k)] for k in range(1, 11)])
    bad = tmp_path / ECPE_FOLD_FILE.format(index=4)
    bad.write_text("4 1\n (1,1)\n1,null,null,x\nnot a header\n", encoding="utf-8")
    with pytest.raises(SplitError, match=r"fold4_test\.txt:4: expected a header line"):
        make_split(docs(["a"]), "ecpe10", data_dir=tmp_path, index=1)
    bad.write_text("4 3\n (1,1)\n1,null,null,x\n", encoding="utf-8")
    with pytest.raises(SplitError, match=r"fold4_test\.txt:3: block of id 4 ends early"):
        make_split(docs(["a"]), "ecpe10", data_dir=tmp_path, index=1)
    write_ecpe(tmp_path, [["1"], ["1"], *[[] for _ in range(8)]])
    with pytest.raises(SplitError, match=r"id 1 is listed twice in 'train'"):
        make_split(docs(["a"]), "ecpe10", data_dir=tmp_path, index=3)
    (tmp_path / SPLIT20_FILE).parent.mkdir(parents=True)
    (tmp_path / SPLIT20_FILE).write_text('{"split10": {}}', encoding="utf-8")
    with pytest.raises(SplitError, match=r"split_doc_ids\.derived\.json: not a split-id file"):
        make_split(docs(["a"]), "split20", data_dir=tmp_path, index=1)


# --------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def gui_documents(data_dir):
    from ecct.data.readers import read_gui2016_csv

    return read_gui2016_csv(data_dir / "gui2016_ece_rthn/datacsv_2105.csv").documents


def test_gui_corpus_has_1807_only_as_an_instance_of_1070(gui_documents):
    """Doc 1807 of the ECPE folds is line 1807 of the CSV, a verbatim repeat of line 1070: not a document."""
    by_id = {doc.id: doc for doc in gui_documents}
    assert "1807" not in by_id
    assert by_id["1070"].meta["instance_ids"] == [1070, 1807]


@pytest.mark.parametrize("fold", range(1, 11))
def test_real_ecpe10_folds(data_dir, gui_documents, fold):
    split = make_split(gui_documents, "ecpe10", data_dir=data_dir, index=fold)
    assert_disjoint_cover(split, gui_documents)
    official = [i for i in official_ids(data_dir / ECPE_FOLD_FILE.format(index=fold)) if i != "1807"]
    assert split.parts["test"] == official
    assert {"1566", "1840"} <= set(split.parts["train"])
    assert len(split.parts["valid"]) == round(0.1 * (1945 - len(official)))
    assert any("1807" in note and "document 1070" in note for note in split.notes)
    assert any("2 corpus document(s)" in note and "1566, 1840" in note for note in split.notes)


def test_real_ecpe10_tests_every_ecpe_document_exactly_once(data_dir, gui_documents):
    tested = Counter(
        i for k in range(1, 11) for i in make_split(gui_documents, "ecpe10", data_dir=data_dir, index=k).parts["test"]
    )
    assert len(tested) == 1945 and set(tested.values()) == {1}
    assert {doc.id for doc in gui_documents} - set(tested) == {"1566", "1840"}


@pytest.mark.parametrize("index", range(1, 21))
def test_real_split20(data_dir, gui_documents, index):
    split = make_split(gui_documents, "split20", data_dir=data_dir, index=index)
    assert_disjoint_cover(split, gui_documents)
    assert split.sizes == {"train": 1556 + 2, "valid": 194, "test": 195}
    assert split.parts["train"][-2:] == ["1566", "1840"]
    listed = json.loads((data_dir / SPLIT20_FILE).read_text(encoding="utf-8"))["split20"][f"fold{index}"]
    assert split.parts["test"] == [str(i) for i in listed["test"]]
    assert not any("not in the corpus" in note for note in split.notes)


def test_real_ecf(data_dir):
    from ecct.data.readers import read_ecf

    documents = read_ecf(data_dir / "ecf2_semeval2024_task3/Subtask_1_train.json").documents
    split = make_split(documents, "ecf", data_dir=data_dir)
    assert_disjoint_cover(split, documents)
    assert split.sizes == {"train": 1001, "valid": 112, "test": 261}
    assert split.parts["valid"] == official_ids(data_dir / ECF_SPLIT_FILES["valid"])
    assert split.notes == ()
