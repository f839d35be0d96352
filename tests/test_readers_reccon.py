"""RECCON reader: conversations as ``Speaker: utterance`` documents; latent causes and unmapped labels counted."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from ecct.data.__main__ import main
from ecct.data.errors import DataError
from ecct.data.readers import READERS, read_reccon


def row(output: str, label: str) -> list[str]:
    match = re.search(rf"^{re.escape(label)}\s+(.+)$", output, flags=re.MULTILINE)
    assert match, f"no row {label!r} in:\n{output}"
    return match.group(1).split()


def utterance(turn, speaker, text, emotion, evidence=None, spans=None, **extra) -> dict:
    data = {"turn": turn, "speaker": speaker, "utterance": text, "emotion": emotion}
    if evidence is not None:
        data |= {"expanded emotion cause evidence": evidence, "expanded emotion cause span": spans}
        data |= {"type": ["no-context"]}
    return data | extra


def conversation(changes: dict | None = None) -> list:
    turns = {
        1: utterance(1, "A", "My bike was stolen this morning .", "neutral"),
        2: utterance(
            2, "B", "Oh no ! That is awful . Was it the red one ?", "sadness", [1, 2], ["bike was stolen", "awful"]
        ),
        3: utterance(3, "A", "Yes , and I had just fixed it !", "angry", [1, 3, "b"], ["stolen", "just fixed it", "b"]),
        4: utterance(4, "B", "Let us go to the police together .", "frustrated", [1], ["My bike was stolen"]),
    } | (changes or {})
    return [[turn for turn in turns.values() if turn is not None]]


def write(path: Path, conversations: dict) -> Path:
    path.write_text(json.dumps(conversations, indent=2), encoding="utf-8")
    return path


def test_conversation_is_read_with_causes_inside_their_turns(tmp_path: Path) -> None:
    result = read_reccon(write(tmp_path / "dd.json", {"tr_1": conversation()}))
    assert READERS["reccon"] is read_reccon and result.skipped.total == 0
    (document,) = result.documents
    assert (document.id, document.language, document.source) == ("tr_1", "en", "reccon")
    assert document.text.split("\n")[1] == "B: Oh no ! That is awful . Was it the red one ?"
    got = {(t.emotion.text, t.cause.text, t.category) for t in document.triplets}
    assert got == {
        ("Oh no ! That is awful . Was it the red one ?", "bike was stolen", "sadness"),
        ("Oh no ! That is awful . Was it the red one ?", "awful", "sadness"),
        ("Yes , and I had just fixed it !", "stolen", "anger"),
        ("Yes , and I had just fixed it !", "just fixed it", "anger"),
    }
    stolen = next(t for t in document.triplets if t.cause.text == "stolen")
    assert stolen.cause.start < document.text.index("\n")  # in turn 1, not anywhere else
    assert document.meta["utterances"][2]["emotion"] == "angry"  # the original label is kept
    # Counted, not dropped silently: the latent cause, the variant label, the 'frustrated' turn's cause.
    assert result.skipped.notes == {
        "latent cause (evidence 'b': not in the dialogue): no triplet": 1,
        "emotion label 'angry' read as anger": 1,
        "cause of a 'frustrated' emotion (none of the six categories): no triplet": 1,
    }
    assert "latent cause" in str(result.skipped) and "nothing skipped" in str(result.skipped)


def test_emotion_without_evidence_is_counted(tmp_path: Path) -> None:
    turns = conversation({2: utterance(2, "B", "Oh no !", "sadness")})
    result = read_reccon(write(tmp_path / "iemocap.json", {"train.Ses01F_x": turns}))
    assert result.skipped.notes["emotion utterance without cause evidence: no triplet"] == 1


BAD = [
    ({2: utterance(2, "B", "Oh no !", "sadness", [1], ["the cat"])}, "span not in text"),
    ({2: utterance(2, "B", "Oh no !", "sadness", [9], ["Oh"])}, "unknown utterance"),
    ({2: utterance(2, "B", "Oh no !", "sadness", [1, 2], ["bike"])}, "malformed record"),
    ({2: utterance(2, "B", "Oh no !", "bored", [2], ["Oh"])}, "unknown category"),
    ({2: utterance(2, "B", "Oh no !", "neutral", [2], ["Oh"])}, "emotion mismatch"),
    ({2: utterance(2, "B", "Oh no !", "sadness", ["b"], ["Oh"])}, "malformed record"),
    ({2: utterance(1, "B", "Oh no !", "neutral")}, "malformed record"),
    ({2: {"turn": 2, "speaker": "B", "emotion": "neutral"}}, "malformed record"),
]


@pytest.mark.parametrize(("changes", "reason"), BAD)
def test_broken_conversations(tmp_path: Path, caplog, changes: dict, reason: str) -> None:
    path = write(
        tmp_path / "broken.json", {"tr_1": conversation(), "tr_2": conversation(changes), "tr_3": conversation()}
    )
    with pytest.raises(DataError) as raised:
        read_reccon(path)
    assert str(raised.value).startswith(f"{path}: conversation 1 (id 'tr_2')")
    assert raised.value.reason == reason
    with caplog.at_level(logging.WARNING, logger="ecct.data.readers"):
        result = read_reccon(path, lenient=True)
    assert [d.id for d in result.documents] == ["tr_1", "tr_3"]
    assert result.skipped.counts == {reason: 1}
    # Notes come from kept conversations only (two of them, one latent cause each).
    assert result.skipped.notes["latent cause (evidence 'b': not in the dialogue): no triplet"] == 2
    assert any(r.levelno == logging.WARNING and reason in r.getMessage() for r in caplog.records)


def test_repeated_conversation_id_is_not_kept_silently(tmp_path: Path) -> None:
    body = json.dumps(conversation())
    path = tmp_path / "dup.json"
    path.write_text(f'{{"tr_1": {body},\n "tr_1": {body}}}', encoding="utf-8")
    with pytest.raises(DataError, match=r"conversation 1 \(id 'tr_1'\): duplicate id 'tr_1'"):
        read_reccon(path)
    assert len(read_reccon(path, lenient=True).documents) == 1


@pytest.mark.parametrize("lenient", [False, True])
def test_malformed_json_names_the_line(tmp_path: Path, lenient: bool) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n "tr_1": [[\n  {"turn": 1,,}\n]]}', encoding="utf-8")
    with pytest.raises(DataError, match=rf"{path.name}: line 3, column \d+: malformed JSON") as raised:
        read_reccon(path, lenient=lenient)
    assert raised.value.reason == "malformed json"


def test_stats_on_an_excerpt(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    (tmp_path / "reccon").mkdir()
    write(tmp_path / "reccon" / "dailydialog_test.json", {"tr_1": conversation(), "te_2": conversation()})
    write(tmp_path / "reccon" / "iemocap_test.json", {"train.Ses01F_impro01": conversation()})
    assert main(["stats", "data=reccon_dd", f"data_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "corpus reccon_dd" in out and "split all_test" in out
    assert row(out, "documents") == ["2", "0", "0", "2"]
    assert "2  latent cause" in out and "nothing skipped" in out
    assert main(["stats", "data=reccon_iemocap", f"data_dir={tmp_path}"]) == 0
    assert "1  cause of a 'frustrated' emotion" in capsys.readouterr().out
