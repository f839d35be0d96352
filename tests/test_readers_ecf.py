"""ECF 2.0 reader: conversations as ``Speaker: text`` documents, on the real file and on broken ones."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from pathlib import Path

import pytest

from ecct.data.errors import DataError
from ecct.data.readers import READERS, ReadResult, read_ecf

ECF = "ecf2_semeval2024_task3/Subtask_1_train.json"


@pytest.fixture(scope="module")
def ecf(data_dir: Path) -> ReadResult:
    return read_ecf(data_dir / ECF)


def test_counts_match_provenance(ecf: ReadResult, data_dir: Path) -> None:
    assert ecf.skipped.total == 0 and READERS["ecf"] is read_ecf
    assert len(ecf.documents) == 1374
    assert sum(len(d.meta["utterances"]) for d in ecf.documents) == 13619
    pairs = [pair for d in ecf.documents for pair in d.meta["pairs"]]
    assert len(pairs) == 9364
    assert Counter(p["category"] for p in pairs) == {
        "happiness": 2760, "surprise": 2185, "anger": 2130, "sadness": 1443, "disgust": 534, "fear": 312,
    }  # fmt: skip
    # Some conversations list the same pair twice; a Document keeps each triplet once.
    raw = json.loads((data_dir / ECF).read_text(encoding="utf-8"))
    repeated = sum(len(c["emotion-cause_pairs"]) - len({tuple(p) for p in c["emotion-cause_pairs"]}) for c in raw)
    assert repeated == 72
    assert sum(len(d.triplets) for d in ecf.documents) == 9364 - repeated


def test_first_conversation_is_decoded_as_provenance_says(ecf: ReadResult) -> None:
    document = ecf.documents[0]
    assert (document.id, document.language, document.source) == ("1", "en", "ecf2")
    lines = document.text.split("\n")
    assert len(lines) == 8 and lines[2] == "Chandler: Then I look down , and I realize there is a phone ... there ."
    utterance_3 = "Then I look down , and I realize there is a phone ... there ."
    triplets = {(t.emotion.text, t.cause.text, t.category) for t in document.triplets}
    assert (utterance_3, "I realize I am totally naked .", "surprise") in triplets
    assert (utterance_3, utterance_3, "surprise") in triplets
    first = document.meta["utterances"][0]
    assert (first["id"], first["speaker"], first["emotion"], first["start"]) == (1, "Chandler", "neutral", 10)


def test_spans_lie_inside_their_utterances(ecf: ReadResult) -> None:
    for document in ecf.documents:
        utterances = document.meta["utterances"]
        bounds = {(u["start"], u["end"]): u for u in utterances}
        for u in utterances:
            assert document.text[u["start"] - len(u["speaker"]) - 2 : u["start"]] == f"{u['speaker']}: "
        for triplet in document.triplets:
            emotion_utterance = bounds[(triplet.emotion.start, triplet.emotion.end)]
            assert emotion_utterance["emotion"] != "neutral"
            assert any(u["start"] <= triplet.cause.start and triplet.cause.end <= u["end"] for u in utterances)


def write_conversations(path: Path, conversations: list) -> Path:
    path.write_text(json.dumps(conversations, indent=1), encoding="utf-8")
    return path


def conversation(conversation_id=1, pairs=None, utterances=None) -> dict:
    return {
        "conversation_ID": conversation_id,
        "conversation": utterances
        if utterances is not None
        else [
            {"utterance_ID": 1, "text": "I lost my job .", "speaker": "Ross", "emotion": "sadness"},
            {"utterance_ID": 2, "text": "I lost my job . Again !", "speaker": "Joey", "emotion": "anger"},
        ],
        "emotion-cause_pairs": pairs if pairs is not None else [["2_anger", "2_I lost my job ."]],
    }


def test_cause_is_searched_in_its_own_utterance(tmp_path: Path) -> None:
    path = write_conversations(tmp_path / "c.json", [conversation()])
    (document,) = read_ecf(path).documents
    assert document.text == "Ross: I lost my job .\nJoey: I lost my job . Again !"
    (triplet,) = document.triplets
    assert (triplet.cause.start, triplet.cause.end) == (28, 43)  # in Joey's line, not Ross's identical words
    assert (triplet.emotion.text, triplet.category) == ("I lost my job . Again !", "anger")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (conversation(2, pairs=[["2_happy", "1_I lost my job ."]]), "unknown category"),
        (conversation(2, pairs=[["1_neutral", "1_I lost my job ."]]), "unknown category"),
        (conversation(2, pairs=[["2_sadness", "1_I lost my job ."]]), "emotion mismatch"),
        (conversation(2, pairs=[["2_anger", "1_Again !"]]), "span not in text"),
        (conversation(2, pairs=[["2_anger", "9_I lost"]]), "unknown utterance"),
        (conversation(2, pairs=[["anger", "1_I lost"]]), "malformed pair"),
        (conversation(2, pairs=[], utterances=[]), "empty text"),
        (conversation(1), "duplicate id"),
        ({"conversation_ID": 2}, "malformed record"),
    ],
)
def test_broken_conversations(tmp_path: Path, caplog, bad: dict, reason: str) -> None:
    path = write_conversations(tmp_path / "broken.json", [conversation(1), bad, conversation(3)])
    with pytest.raises(DataError) as raised:
        read_ecf(path)
    assert str(raised.value).startswith(f"{path}: conversation 1")
    assert raised.value.reason == reason
    with caplog.at_level(logging.WARNING, logger="ecct.data.readers"):
        result = read_ecf(path, lenient=True)
    assert [d.id for d in result.documents] == ["1", "3"]
    assert result.skipped.counts == {reason: 1}
    assert any(r.levelno == logging.WARNING and reason in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("lenient", [False, True])
def test_malformed_json_cannot_be_read_even_leniently(tmp_path: Path, lenient: bool) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n {"conversation_ID": 1,\n  "conversation": [}\n]', encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path.name}: line 3, column \d+: malformed JSON") as raised:
        read_ecf(path, lenient=lenient)
    assert raised.value.reason == "malformed json"


def test_test_style_file_without_labels_is_read_for_prediction(tmp_path: Path, monkeypatch, capsys) -> None:
    from ecct.data.__main__ import main

    unlabelled = conversation(7)
    del unlabelled["emotion-cause_pairs"]
    for utterance in unlabelled["conversation"]:
        del utterance["emotion"]
    path = write_conversations(tmp_path / "Subtask_1_test.json", [unlabelled, conversation(8)])
    result = read_ecf(path)
    assert [(d.id, len(d.triplets)) for d in result.documents] == [("7", 0), ("8", 1)]
    assert result.documents[0].text == "Ross: I lost my job .\nJoey: I lost my job . Again !"
    assert result.skipped.total == 0 and sum(result.skipped.notes.values()) == 1
    # A labelled conversation still needs its utterance emotions.
    conversation_without_emotion = conversation(9)
    del conversation_without_emotion["conversation"][0]["emotion"]
    with pytest.raises(DataError, match=r"conversation 0 \(conversation_ID 9\): an utterance lacks one of"):
        read_ecf(write_conversations(tmp_path / "x.json", [conversation_without_emotion]))
    # data=ecf_test puts every conversation in the test part.
    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    assert main(["stats", "data=ecf_test", f"data.path={path}"]) == 0
    out = capsys.readouterr().out
    assert "split all_test" in out and "unlabelled, read for prediction" in out
    assert re.search(r"^documents\s+2\s+0\s+0\s+2$", out, flags=re.MULTILINE)
