"""Emotion-Stimulus reader: inline-tagged sentences; the emotion span is the whole sentence."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from ecct.data.__main__ import main
from ecct.data.errors import DataError
from ecct.data.readers import READERS, read_emotion_stimulus

# Excerpts written for these tests, in the corpus's own format (closing tags with a backslash).
WITH_CAUSE = [
    r"<happy>She was delighted <cause>to see her old teacher again<\cause> . <\happy>",
    r"<sad>He felt low all week <cause>after the shop closed<\cause> and <cause>his dog fell ill<\cause> . <\sad>",
    r"<fear>I am scared <cause> of the exam tomorrow <\cause>. <\fear>",
    r"<shame>He blushed <cause>at his own rude remark<\cause> . <\shame>",
]
NO_CAUSE = [r"<anger>Tom was so cross he slammed the door . <\anger>"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_sentences_causes_and_the_whole_sentence_as_emotion(tmp_path: Path) -> None:
    result = read_emotion_stimulus(write(tmp_path / "Emotion Cause.txt", WITH_CAUSE + NO_CAUSE))
    assert READERS["emotion_stimulus"] is read_emotion_stimulus and result.skipped.total == 0
    happy, sad, fear, anger = result.documents  # shame is left out, and counted
    assert (happy.id, happy.language, happy.source) == ("1", "en", "emotion_stimulus")
    assert happy.text == "She was delighted to see her old teacher again ."
    (triplet,) = happy.triplets
    assert (triplet.emotion.text, triplet.cause.text, triplet.category) == (
        happy.text,
        "to see her old teacher again",
        "happiness",
    )
    assert (triplet.emotion.start, triplet.emotion.end) == (0, len(happy.text))
    assert [t.cause.text for t in sad.triplets] == ["after the shop closed", "his dog fell ill"]
    assert {t.category for t in sad.triplets} == {"sadness"}
    assert fear.text == "I am scared  of the exam tomorrow ." and fear.triplets[0].cause.text == "of the exam tomorrow"
    assert (anger.id, anger.triplets, anger.meta["category"]) == ("5", [], "anger")
    assert result.skipped.notes == {
        "sentence tagged 'shame' (none of the six categories): left out": 1,
        "sentence without a <cause> span: kept without triplets (its category in meta)": 1,
    }


def test_forward_slash_closing_tags_and_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", ["", "<surprise>Wow , <cause>a letter from Ann</cause> !</surprise>", ""])
    (document,) = read_emotion_stimulus(path).documents
    assert (document.id, document.text, document.triplets[0].category) == ("2", "Wow , a letter from Ann !", "surprise")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (r"She was delighted to see him . <\happy>", "malformed tag"),
        (r"<happy>She was delighted to see him . <\sad>", "malformed tag"),
        (r"<happy>She was <cause>delighted <cause>to see<\cause> him<\cause> . <\happy>", "malformed tag"),
        (r"<happy>She was delighted <cause>to see him . <\happy>", "malformed tag"),
        (r"<happy>She was delighted to see<\cause> him . <\happy>", "malformed tag"),
        (r"<happy>She was <cause>  <\cause> delighted . <\happy>", "empty span"),
        (r"<joy>She was delighted . <\joy>", "unknown category"),
        (r"<happy>   <\happy>", "empty text"),
    ],
)
def test_broken_lines(tmp_path: Path, caplog, bad: str, reason: str) -> None:
    path = write(tmp_path / "broken.txt", [WITH_CAUSE[0], bad, NO_CAUSE[0]])
    with pytest.raises(DataError) as raised:
        read_emotion_stimulus(path)
    assert str(raised.value).startswith(f"{path}: line 2")
    assert raised.value.reason == reason
    with caplog.at_level(logging.WARNING, logger="ecct.data.readers"):
        result = read_emotion_stimulus(path, lenient=True)
    assert [d.id for d in result.documents] == ["1", "3"]
    assert result.skipped.counts == {reason: 1}
    assert sum(result.skipped.notes.values()) == 1  # the no-cause line; nothing from the skipped one
    assert any(r.levelno == logging.WARNING and reason in r.getMessage() for r in caplog.records)


def test_stats_on_an_excerpt(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("ECCT_DATA_DIR", raising=False)
    (tmp_path / "emotion_stimulus").mkdir()
    write(tmp_path / "emotion_stimulus" / "Emotion Cause.txt", WITH_CAUSE + NO_CAUSE)
    assert main(["stats", "data=emotion_stimulus", f"data_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    match = re.search(r"^documents\s+(.+)$", out, flags=re.MULTILINE)
    assert match and match.group(1).split()[0] == "4"
    assert re.search(r"^triplets\s+4\b", out, flags=re.MULTILINE)
    assert "1  sentence tagged 'shame'" in out and "nothing skipped" in out
