"""ECF 2.0 (SemEval-2024 Task 3, Subtask 1; ``ecf2_semeval2024_task3/Subtask_1_train.json``), English.

The file is a JSON list of conversations: ``conversation_ID``, ``conversation`` (utterances with
``utterance_ID``, ``text``, ``speaker``, ``emotion``) and ``emotion-cause_pairs`` such as
``["3_surprise", "1_I realize I am totally naked ."]``. One Document per conversation: its text is the
utterances as ``Speaker: text`` lines joined by ``\\n``. ECF has no emotion-word span, so the emotion span is
the whole emotion utterance (after ``Speaker: ``); the cause span is the verbatim cause text, searched inside
the cause utterance only (its first occurrence there). ``joy`` becomes happiness; neutral utterances have no
triplet. A file that is not valid JSON cannot be read even leniently (there are no good records to keep).

Test-style files without labels (the SemEval evaluation-phase ``Subtask_1_test.json``) are read for prediction:
a conversation without the ``emotion-cause_pairs`` key becomes a Document without triplets, its utterances
may lack ``emotion``, and it is counted in the skip report's notes (``data=ecf_test`` reads such a file with
every conversation in the test part).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError
from ecct.data.model import Document, Span, Triplet, find_span
from ecct.data.readers.base import ReadResult, RecordSink, load_json

CATEGORY_OF_LABEL = {
    "joy": "happiness",
    "sadness": "sadness",
    "anger": "anger",
    "fear": "fear",
    "disgust": "disgust",
    "surprise": "surprise",
}
NEUTRAL = "neutral"
SOURCE = "ecf2"
UNLABELLED = "conversation without 'emotion-cause_pairs' (unlabelled, read for prediction): no triplet"


def join_utterances(
    sink: RecordSink, utterances: Any, location: str, labelled: bool = True
) -> tuple[str, dict[int, dict[str, Any]]]:
    """The conversation text and, per utterance id, its speaker, emotion and [start, end) of its text.

    Unlabelled utterances (``labelled=False``) may lack ``emotion`` (it is then None).
    """
    if not isinstance(utterances, list):
        raise sink.error(location, "'conversation' is not a list of utterances", "malformed record")
    lines: list[str] = []
    by_id: dict[int, dict[str, Any]] = {}
    position = 0
    for utterance in utterances:
        fields = ("utterance_ID", "text", "speaker", "emotion")[: 4 if labelled else 3]
        if not isinstance(utterance, dict) or any(key not in utterance for key in fields):
            raise sink.error(location, f"an utterance lacks one of {fields}: {utterance!r:.80}", "malformed record")
        utterance_id, text, speaker, label = (
            utterance.get(key) for key in ("utterance_ID", "text", "speaker", "emotion")
        )
        if not isinstance(utterance_id, int) or utterance_id in by_id:
            raise sink.error(location, f"utterance_ID {utterance_id!r} is not a new integer", "malformed record")
        if label is not None and label != NEUTRAL and label not in CATEGORY_OF_LABEL:
            raise sink.error(location, f"utterance {utterance_id}: unknown emotion {label!r}", "unknown category")
        start = position + len(f"{speaker}: ")
        by_id[utterance_id] = {"id": utterance_id, "speaker": str(speaker), "emotion": label}
        by_id[utterance_id] |= {"start": start, "end": start + len(str(text))}
        lines.append(f"{speaker}: {text}")
        position = start + len(str(text)) + 1
    return "\n".join(lines), by_id


def parse_pair(
    sink: RecordSink, pair: Any, text: str, utterances: dict[int, dict[str, Any]], location: str
) -> tuple[Triplet, dict[str, Any]]:
    """One ``["<utt>_<emotion>", "<utt>_<cause text>"]`` pair as a triplet of the joined text (and its meta)."""
    parts = [str(side).split("_", 1) for side in pair] if isinstance(pair, list) and len(pair) == 2 else []
    if len(parts) != 2 or any(len(part) != 2 or not part[0].isdigit() for part in parts):
        raise sink.error(location, f"pair {pair!r:.80} is not ['<utt>_<emotion>', '<utt>_<cause>']", "malformed pair")
    (emotion_id, label), (cause_id, cause_text) = ((int(number), rest) for number, rest in parts)
    for utterance_id in (emotion_id, cause_id):
        if utterance_id not in utterances:
            raise sink.error(location, f"pair {pair!r:.80} names no utterance {utterance_id}", "unknown utterance")
    emotion, cause = utterances[emotion_id], utterances[cause_id]
    if label not in CATEGORY_OF_LABEL:
        raise sink.error(location, f"pair {pair!r:.80}: unknown category {label!r}", "unknown category")
    if label != emotion["emotion"]:
        problem = f"pair {pair!r:.80}: utterance {emotion_id} is labelled {emotion['emotion']!r}, not {label!r}"
        raise sink.error(location, problem, "emotion mismatch")
    found = find_span(text[cause["start"] : cause["end"]], cause_text)
    if found is None:
        problem = f"cause {cause_text!r} is not in utterance {cause_id} ({text[cause['start'] : cause['end']]!r})"
        raise sink.error(location, problem, "span not in text")
    triplet = Triplet(
        emotion=Span(emotion["start"], emotion["end"], text[emotion["start"] : emotion["end"]]),
        cause=Span(cause["start"] + found.start, cause["start"] + found.end, cause_text),
        category=CATEGORY_OF_LABEL[label],
    )
    return triplet, {"emotion_utterance": emotion_id, "cause_utterance": cause_id, "category": triplet.category}


def parse_conversation(sink: RecordSink, record: Any, location: str) -> Document:
    keys = ("conversation_ID", "conversation")
    if not isinstance(record, dict) or any(key not in record for key in keys):
        raise sink.error(
            location, f"a conversation needs the keys {keys} (and 'emotion-cause_pairs')", "malformed record"
        )
    conversation_id = str(record["conversation_ID"])
    location = f"{location} (conversation_ID {conversation_id})"
    labelled = "emotion-cause_pairs" in record
    text, utterances = join_utterances(sink, record["conversation"], location, labelled)
    if not any(text[u["start"] : u["end"]].strip() for u in utterances.values()):
        raise sink.error(location, "empty text (no utterance has text)", "empty text")
    pairs = record.get("emotion-cause_pairs", [])
    if not isinstance(pairs, list):
        raise sink.error(location, "'emotion-cause_pairs' is not a list", "malformed record")
    parsed = [parse_pair(sink, pair, text, utterances, location) for pair in pairs]
    meta = {"utterances": list(utterances.values()), "pairs": [pair_meta for _, pair_meta in parsed]}
    document = Document(conversation_id, text, language="en", source=SOURCE, triplets=[t for t, _ in parsed], meta=meta)
    document = sink.checked(document, location)
    sink.claim_id(conversation_id, location)
    if not labelled:
        sink.note(Counter({UNLABELLED: 1}))
    return document


def read_ecf(path: str | Path, *, lenient: bool = False) -> ReadResult:
    """Read ECF 2.0 Subtask 1 JSON into one Document per conversation (see the module docstring)."""
    sink = RecordSink(path, lenient=lenient)
    records = load_json(sink, path)
    if not isinstance(records, list):
        raise sink.error("top level", "expected a JSON list of conversations", "malformed json")
    for index, record in enumerate(records):
        try:
            sink.documents.append(parse_conversation(sink, record, f"conversation {index}"))
        except DataError as err:
            sink.skip(err)
    return sink.result()
