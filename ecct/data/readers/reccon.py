"""RECCON (Poria et al. 2021), English conversations: its DailyDialog and IEMOCAP parts.

The files are ``data/original_annotation/{dailydialog_train,dailydialog_valid,dailydialog_test,iemocap_test}.json``
of the GitHub repository declare-lab/RECCON. Each is one JSON object: conversation id (``"tr_9708"``,
``"train.Ses04F_script03_1"``) -> a list holding one list of utterances. An utterance has ``turn`` (1, 2, ...),
``speaker``, ``utterance`` and ``emotion``; a non-neutral one also has ``expanded emotion cause evidence`` (the
turns holding its causes) and, aligned with it, ``expanded emotion cause span`` (the verbatim cause text in that
turn), plus ``type`` (no-context, inter-personal, self-contagion, hybrid, latent) and sometimes ``explanation``
and ``flag``. Evidence ``"b"`` (with span ``"b"``) marks a cause that is not in the dialogue (latent).

One Document per conversation, as for ECF: its text is the utterances as ``Speaker: utterance`` lines joined by
``\\n``; the emotion span is the whole emotion utterance (RECCON has no emotion-word span); the cause span is the
verbatim span searched inside its evidence utterance (first occurrence there). Labels: happiness, happy, happines
and excited -> happiness; sadness, sad -> sadness; anger, angry -> anger; surprise, surprised -> surprise;
disgust; fear. Counted in the skip report's notes, never dropped silently, and not errors:

- a latent cause (``"b"``): not in the text, so no triplet;
- an emotion utterance without cause evidence (IEMOCAP has some): no triplet;
- a cause of a ``frustrated`` utterance (IEMOCAP), an emotion none of the six categories covers: no triplet (the
  utterance stays in the text, its label in ``meta``);
- a variant label read as a category (``'excited' read as happiness``).

The original labels, turn numbers and types stay in ``meta["utterances"]``; ``meta["pairs"]`` lists each
emotion-cause pair kept (duplicates included, so ``stats`` can show the count before merging). Errors: a turn
that is not a new integer, an evidence turn that does not exist, a span not in its evidence utterance, evidence
and spans of different lengths, a neutral utterance with causes, an unknown label, a repeated key (JSON objects
would otherwise keep the last value silently). A file that is not valid JSON cannot be read even leniently.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError
from ecct.data.model import Document, Span, Triplet, find_span
from ecct.data.readers.base import ReadResult, RecordSink, load_json

CATEGORY_OF_LABEL = {
    "happiness": "happiness",
    "happy": "happiness",
    "happines": "happiness",
    "excited": "happiness",
    "sadness": "sadness",
    "sad": "sadness",
    "anger": "anger",
    "angry": "anger",
    "surprise": "surprise",
    "surprised": "surprise",
    "disgust": "disgust",
    "fear": "fear",
}
NEUTRAL = "neutral"
NO_CATEGORY = ("frustrated",)
LATENT = "b"
EVIDENCE = "expanded emotion cause evidence"
SPANS = ("expanded emotion cause span", "expanded emotion cause spans")  # the files' spelling, the README's
SOURCE = "reccon"

NOTE_LATENT = "latent cause (evidence 'b': not in the dialogue): no triplet"
NOTE_NO_EVIDENCE = "emotion utterance without cause evidence: no triplet"


class Pairs(dict):
    """A JSON object that remembers its key/value pairs, so a repeated key is seen (``object_pairs_hook``)."""

    def __init__(self, pairs: list[tuple[str, Any]]):
        super().__init__(pairs)
        self.pairs = pairs


def _unique_keys(sink: RecordSink, data: Any, what: str, location: str) -> None:
    if isinstance(data, Pairs) and len(data.pairs) != len(data):
        repeated = sorted(key for key, n in Counter(key for key, _ in data.pairs).items() if n > 1)
        raise sink.error(location, f"{what} repeats the key(s) {repeated}", "malformed record")


def join_utterances(sink: RecordSink, value: Any, location: str) -> tuple[str, dict[int, dict[str, Any]]]:
    """The conversation text and, per turn, the utterance (its fields and [start, end) of its text)."""
    if not (isinstance(value, list) and len(value) == 1 and isinstance(value[0], list)):
        raise sink.error(location, "a conversation must be a list holding one list of utterances", "malformed record")
    lines: list[str] = []
    by_turn: dict[int, dict[str, Any]] = {}
    position = 0
    for utterance in value[0]:
        fields = ("turn", "speaker", "utterance", "emotion")
        if not isinstance(utterance, dict) or any(key not in utterance for key in fields):
            raise sink.error(location, f"an utterance lacks one of {fields}: {utterance!r:.80}", "malformed record")
        turn, speaker, text, label = (utterance[key] for key in fields)
        _unique_keys(sink, utterance, f"turn {turn!r}", location)
        if isinstance(turn, bool) or not isinstance(turn, int) or turn in by_turn:
            raise sink.error(location, f"turn {turn!r} is not a new integer", "malformed record")
        if not isinstance(text, str) or not isinstance(label, str):
            raise sink.error(location, f"turn {turn}: 'utterance' and 'emotion' must be strings", "malformed record")
        start = position + len(f"{speaker}: ")
        by_turn[turn] = {"turn": turn, "speaker": str(speaker), "emotion": label, "start": start}
        by_turn[turn] |= {"end": start + len(text), "raw": utterance}
        lines.append(f"{speaker}: {text}")
        position = start + len(text) + 1
    return "\n".join(lines), by_turn


def evidence_of(sink: RecordSink, utterance: dict[str, Any], turn: int, location: str) -> list[tuple[Any, Any]]:
    """The (evidence turn or ``"b"``, span) pairs of one utterance; [] when it lists none."""
    span_keys = [key for key in SPANS if key in utterance]
    if EVIDENCE not in utterance and not span_keys:
        return []
    if EVIDENCE not in utterance or len(span_keys) != 1:
        problem = f"turn {turn}: give both {EVIDENCE!r} and one of {SPANS}"
        raise sink.error(location, problem, "malformed record")
    evidence, spans = utterance[EVIDENCE], utterance[span_keys[0]]
    if not isinstance(evidence, list) or not isinstance(spans, list) or len(evidence) != len(spans):
        problem = f"turn {turn}: {EVIDENCE!r} and {span_keys[0]!r} must be lists of the same length"
        raise sink.error(location, problem, "malformed record")
    return list(zip(evidence, spans, strict=True))


def parse_utterance(
    sink: RecordSink, text: str, by_turn: dict[int, dict[str, Any]], u: dict[str, Any], notes: Counter[str], where: str
) -> list[tuple[Triplet, dict[str, Any]]]:
    """The triplets of one emotion utterance (and their meta); notes count what cannot be a triplet."""
    turn, label = u["turn"], u["emotion"]
    causes = evidence_of(sink, u["raw"], turn, where)
    if label == NEUTRAL:
        if causes:
            raise sink.error(where, f"turn {turn} is neutral but lists causes", "emotion mismatch")
        return []
    if label not in CATEGORY_OF_LABEL and label not in NO_CATEGORY:
        raise sink.error(where, f"turn {turn}: unknown emotion {label!r}", "unknown category")
    category = CATEGORY_OF_LABEL.get(label)
    if category is not None and category != label:
        notes[f"emotion label {label!r} read as {category}"] += 1
    if not causes:
        notes[NOTE_NO_EVIDENCE] += 1
    found = []
    for evidence, span_text in causes:
        if evidence == LATENT:
            if span_text != LATENT:
                raise sink.error(where, f"turn {turn}: latent evidence 'b' with span {span_text!r}", "malformed record")
            notes[NOTE_LATENT] += 1
            continue
        if isinstance(evidence, bool) or not isinstance(evidence, int) or evidence not in by_turn:
            raise sink.error(where, f"turn {turn}: evidence {evidence!r} names no turn", "unknown utterance")
        cause = by_turn[evidence]
        utterance_text = text[cause["start"] : cause["end"]]
        span = find_span(utterance_text, span_text) if isinstance(span_text, str) else None
        if span is None:
            problem = f"turn {turn}: cause {span_text!r} is not in turn {evidence} ({utterance_text!r})"
            raise sink.error(where, problem, "span not in text")
        if category is None:
            notes[f"cause of a {label!r} emotion (none of the six categories): no triplet"] += 1
        else:
            triplet = Triplet(
                emotion=Span(u["start"], u["end"], text[u["start"] : u["end"]]),
                cause=Span(cause["start"] + span.start, cause["start"] + span.end, span_text),
                category=category,
            )
            found.append((triplet, {"emotion_utterance": turn, "cause_utterance": evidence, "category": category}))
    return found


def parse_conversation(sink: RecordSink, conversation_id: str, value: Any, location: str) -> Document:
    text, by_turn = join_utterances(sink, value, location)
    if not any(text[u["start"] : u["end"]].strip() for u in by_turn.values()):
        raise sink.error(location, "empty text (no utterance has text)", "empty text")
    notes: Counter[str] = Counter()
    parsed = [pair for u in by_turn.values() for pair in parse_utterance(sink, text, by_turn, u, notes, location)]
    utterances = [
        {key: u[key] for key in ("turn", "speaker", "emotion", "start", "end")}
        | ({"types": u["raw"]["type"]} if "type" in u["raw"] else {})
        for u in by_turn.values()
    ]
    meta = {"utterances": utterances, "pairs": [pair_meta for _, pair_meta in parsed]}
    document = Document(conversation_id, text, language="en", source=SOURCE, triplets=[t for t, _ in parsed], meta=meta)
    document = sink.checked(document, location)
    sink.claim_id(conversation_id, location)
    sink.note(notes)  # only for a record that was kept
    return document


def read_reccon(path: str | Path, *, lenient: bool = False) -> ReadResult:
    """Read a RECCON ``original_annotation`` JSON file into one Document per conversation (see the module)."""
    sink = RecordSink(path, lenient=lenient)
    records = load_json(sink, path, object_pairs_hook=Pairs)
    if not isinstance(records, Pairs):
        raise sink.error("top level", "expected a JSON object of conversations (id -> utterances)", "malformed json")
    for index, (conversation_id, value) in enumerate(records.pairs):
        location = f"conversation {index} (id {conversation_id!r})"
        try:
            sink.documents.append(parse_conversation(sink, str(conversation_id), value, location))
        except DataError as err:
            sink.skip(err)
    return sink.result()
