"""Emotion-Stimulus (Ghazi, Inkpen & Szpakowicz, CICLing 2015), English sentences with an inline emotion tag.

The corpus (``Dataset.zip`` from the authors' page) has two files, one sentence per line:
``Emotion Cause.txt`` (820 sentences with a cause) and ``No Cause.txt`` (1,594 without). A line is the sentence
inside an emotion tag, the cause (the "emotion stimulus") inside ``<cause>``; closing tags use a backslash::

    <happy>These days he is quite happy <cause>travelling by trolley<\\cause> . <\\happy>
    <anger>Bernice was so angry she could hardly speak . <\\anger>

Tags: happy, sad, anger, fear, surprise, disgust, shame -> happiness, sadness, anger, fear, surprise, disgust;
``shame`` has no category of the six. ``</cause>``-style closing tags are accepted too.

**The emotion span.** The corpus gives the emotion category of the sentence and the cause span, not the words
that express the emotion. The reader does not invent them (no lexicon): as for ECF and RECCON, the emotion span is
the **whole sentence** (the text after the tags are removed, surrounding whitespace stripped), so every span is
verbatim and non-empty, as ``Document`` requires. The task becomes cause span + category, and the metrics mean:
``cause`` = cause-span extraction; ``triplet`` = cause span and category both right (``pair`` = the cause span,
the emotion side being the sentence); ``emotion_category`` = sentence-level emotion classification of the
sentences that have a cause; ``emotion`` only says whether a sentence's emotion was found at all.

One Document per line: id ``"<line number>"``, the tag-free sentence, one triplet per ``<cause>`` span (surrounding
whitespace inside the tags is not part of the span), ``meta`` with the tag, the category and the line. Counted in
the skip report's notes (not errors): a sentence without a ``<cause>`` span (all of ``No Cause.txt``) is kept as
a Document without triplets, its category in ``meta``; a ``shame`` sentence is left out (its only label is a
category ecct does not have). Errors: a line not wrapped in one emotion tag, a closing tag that does not match,
a nested or unclosed ``<cause>``, an empty cause, an unknown tag, an empty sentence.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ecct.data.errors import DataError
from ecct.data.model import Document, Span, Triplet
from ecct.data.readers.base import ReadResult, RecordSink, read_text

CATEGORY_OF_TAG = {
    "happy": "happiness",
    "sad": "sadness",
    "anger": "anger",
    "fear": "fear",
    "surprise": "surprise",
    "disgust": "disgust",
}
NO_CATEGORY = ("shame",)
SOURCE = "emotion_stimulus"
LINE = re.compile(r"^\s*<(?P<open>[A-Za-z]+)>(?P<body>.*)<[\\/](?P<close>[A-Za-z]+)>\s*$")
CAUSE_TAG = re.compile(r"<(?P<end>[\\/]?)cause>")
EMOTION_TAG = re.compile(r"<[\\/]?(?:" + "|".join((*CATEGORY_OF_TAG, *NO_CATEGORY)) + ")>")

NOTE_NO_CAUSE = "sentence without a <cause> span: kept without triplets (its category in meta)"
NOTE_SHAME = "sentence tagged 'shame' (none of the six categories): left out"


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) of ``text`` without the whitespace at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def parse_body(sink: RecordSink, body: str, location: str) -> tuple[str, list[tuple[int, int]]]:
    """The tag-free sentence and the [start, end) of each cause in it (whitespace at the ends stripped)."""
    if EMOTION_TAG.search(body):
        raise sink.error(location, f"an emotion tag inside the sentence: {body!r:.80}", "malformed tag")
    pieces: list[str] = []
    causes: list[tuple[int, int]] = []
    length, position, opened = 0, 0, None
    for tag in CAUSE_TAG.finditer(body):
        pieces.append(body[position : tag.start()])
        length += tag.start() - position
        position = tag.end()
        closing = bool(tag.group("end"))
        if closing == (opened is None):
            problem = "<\\cause> without <cause>" if closing else "<cause> inside another <cause>"
            raise sink.error(location, problem, "malformed tag")
        if closing:
            causes.append((opened, length))  # type: ignore[arg-type]
            opened = None
        else:
            opened = length
    if opened is not None:
        raise sink.error(location, "<cause> is not closed", "malformed tag")
    pieces.append(body[position:])
    raw = "".join(pieces)
    start, end = _strip(raw, 0, len(raw))
    text = raw[start:end]
    spans = []
    for cause_start, cause_end in causes:
        s, e = _strip(raw, cause_start, cause_end)
        if s == e:
            raise sink.error(location, "empty <cause> span", "empty span")
        spans.append((s - start, e - start))
    return text, spans


def parse_line(sink: RecordSink, line: str, number: int, notes: Counter[str]) -> Document | None:
    """One line as a Document; None for a sentence left out (counted in ``notes``)."""
    location = f"line {number}"
    match = LINE.match(line)
    if match is None:
        raise sink.error(location, f"expected <emotion>sentence<\\emotion>, got {line.strip()!r:.80}", "malformed tag")
    tag, body, close = match.group("open"), match.group("body"), match.group("close")
    if tag != close:
        raise sink.error(location, f"<{tag}> is closed by <\\{close}>", "malformed tag")
    if tag not in CATEGORY_OF_TAG and tag not in NO_CATEGORY:
        expected = (*CATEGORY_OF_TAG, *NO_CATEGORY)
        raise sink.error(location, f"unknown emotion tag <{tag}>; expected one of {expected}", "unknown category")
    text, causes = parse_body(sink, body, location)
    if not text:
        raise sink.error(location, "empty text", "empty text")
    category = CATEGORY_OF_TAG.get(tag)
    if category is None:
        notes[NOTE_SHAME] += 1
        return None
    if not causes:
        notes[NOTE_NO_CAUSE] += 1
    sentence = Span(0, len(text), text)
    triplets = [Triplet(sentence, Span(s, e, text[s:e]), category) for s, e in causes]
    meta = {"tag": tag, "category": category, "line": number}
    document = Document(str(number), text, language="en", source=SOURCE, triplets=triplets, meta=meta)
    return sink.checked(document, location)


def read_emotion_stimulus(path: str | Path, *, lenient: bool = False) -> ReadResult:
    """Read ``Emotion Cause.txt`` or ``No Cause.txt``: one Document per non-blank line (see the module docstring)."""
    sink = RecordSink(path, lenient=lenient)
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        notes: Counter[str] = Counter()
        try:
            document = parse_line(sink, line, number, notes)
        except DataError as err:
            sink.skip(err)
            continue
        sink.note(notes)
        if document is not None:
            sink.documents.append(document)
    return sink.result()
