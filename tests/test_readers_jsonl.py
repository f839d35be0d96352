"""JSONL reader/writer: round trips of the real corpora, the text-only span form, and broken files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ecct.data.errors import DataError
from ecct.data.model import Document, Span, Triplet
from ecct.data.readers import READERS, read_ecf, read_gui2016_csv, read_gui2016_xml, read_jsonl, write_jsonl

TEXT = "I was afraid to spend the night alone, afraid of the dark."


def write_lines(path: Path, records: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def record(doc_id="d1", **fields) -> dict:
    triplet = {
        "emotion": {"text": "afraid", "start": 6, "end": 12},
        "cause": {"text": "spend the night alone", "start": 16, "end": 37},
        "category": "fear",
    }
    return {"id": doc_id, "text": TEXT, "language": "en", "triplets": [triplet]} | fields


@pytest.mark.parametrize(
    ("relative", "reader", "lenient"),
    [
        ("gui2016_ece_rthn/datacsv_2105.csv", read_gui2016_csv, False),
        ("gui2016_ece_hlt_emotionml/HLTEmotionml.eml", read_gui2016_xml, True),  # 3 records skipped: empty keyword
        ("ecf2_semeval2024_task3/Subtask_1_train.json", read_ecf, False),
    ],
)
def test_round_trip_of_real_documents(data_dir: Path, tmp_path: Path, relative: str, reader, lenient: bool) -> None:
    documents = reader(data_dir / relative, lenient=lenient).documents
    path = tmp_path / "sub" / "out.jsonl"
    write_jsonl(documents, path)
    again = read_jsonl(path)
    assert again.skipped.total == 0
    assert again.documents == documents
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(documents)


def test_full_record_is_read_as_written(tmp_path: Path) -> None:
    (document,) = read_jsonl(write_lines(tmp_path / "a.jsonl", [record(7, meta={"note": "x"})])).documents
    assert document == Document(
        id="7",
        text=TEXT,
        language="en",
        source="jsonl",
        triplets=[Triplet(Span(6, 12, "afraid"), Span(16, 37, "spend the night alone"), "fear")],
        meta={"note": "x"},
    )


def test_text_only_spans_take_the_first_occurrence(tmp_path: Path) -> None:
    short = {"emotion": "afraid", "cause": {"text": "the dark"}, "category": "Fear"}
    later = {"emotion": {"text": "afraid", "start": 39, "end": 45}, "cause": "the dark", "category": "fear"}
    path = write_lines(tmp_path / "a.jsonl", [record(triplets=[short, later])])
    (document,) = read_jsonl(path).documents
    assert [(t.emotion.start, t.cause.start, t.category) for t in document.triplets] == [
        (6, 49, "fear"),
        (39, 49, "fear"),
    ]


def test_document_without_triplets_is_valid(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [{"id": "x", "text": "今天下雨。", "language": "zh"}, ""])
    (document,) = read_jsonl(path).documents
    assert (document.triplets, document.source) == ([], "jsonl")


def test_writer_refuses_an_invalid_document(tmp_path: Path) -> None:
    bad = Document("b", "abc", "en", "x", [Triplet(Span(0, 2, "zz"), Span(0, 1, "a"), "fear")])
    with pytest.raises(DataError, match=r"out\.jsonl: document 'b', triplet 0: emotion span 'zz' is not text\[0:2\]"):
        write_jsonl([bad], tmp_path / "out.jsonl")


def with_triplet(**changes) -> dict:
    base = record()["triplets"][0]
    return record("d2", triplets=[base | changes])


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"id": "d2", "text": ', "malformed json"),
        (with_triplet(cause={"text": "spend the day", "start": 16, "end": 29}), "span not in text"),
        (with_triplet(cause="sunshine"), "span not in text"),
        (with_triplet(category="joy"), "unknown category"),
        (record("d2", text="   ", triplets=[]), "empty text"),
        (record("d1"), "duplicate id"),
        (record("d2", lang="en"), "malformed record"),
        (with_triplet(cause={"text": "alone", "start": 32}), "malformed record"),
        ({"id": "d2", "text": TEXT}, "malformed record"),
        (record("d2", language="fr"), "unknown language"),
    ],
)
def test_broken_records(tmp_path: Path, caplog, bad, reason: str) -> None:
    path = write_lines(tmp_path / "broken.jsonl", [record("d1"), bad, record("d3")])
    with pytest.raises(DataError) as raised:
        read_jsonl(path)
    assert str(raised.value).startswith(f"{path}: line 2")
    assert raised.value.reason == reason
    with caplog.at_level(logging.WARNING, logger="ecct.data.readers"):
        result = read_jsonl(path, lenient=True)
    assert [d.id for d in result.documents] == ["d1", "d3"]
    assert result.skipped.counts == {reason: 1}
    assert any(r.levelno == logging.WARNING and reason in r.getMessage() for r in caplog.records)


def test_registry_names_the_jsonl_reader() -> None:
    assert READERS["jsonl"] is read_jsonl


def test_deeply_nested_json_is_a_bad_record(tmp_path: Path) -> None:
    # 100,000 nested arrays made json.loads raise RecursionError, a traceback even with lenient reading.
    deep = '{"id": "d2", "text": "x", "language": "en", "meta": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    path = write_lines(tmp_path / "deep.jsonl", [record("d1"), deep, record("d3")])
    with pytest.raises(DataError, match=r"deep\.jsonl: line 2: malformed JSON \(nested too deeply to read\)"):
        read_jsonl(path)
    result = read_jsonl(path, lenient=True)
    assert [d.id for d in result.documents] == ["d1", "d3"]
    assert result.skipped.counts == {"malformed json": 1}


def test_deeply_nested_json_in_a_corpus_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(DataError, match=r"deep\.json: the whole file: malformed JSON \(nested too deeply"):
        read_ecf(path, lenient=True)
