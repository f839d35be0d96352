"""Gui et al. 2016 original EmotionML release (``gui2016_ece_hlt_emotionml/HLTEmotionml.eml``).

The file is 2,105 ``<emotionml>`` blocks written one after another, not one XML document: each block is cut
out and parsed on its own. A block holds one ``<emotion id>`` with a ``<category name>`` and a window of
``<clause>`` elements; the clause holding the emotion has ``<keywords>``, cause clauses have ``<cause>``.
One Document per emotion instance: its text is the stripped clause texts joined with no separator (every clause
but the last already ends in its punctuation). Spans are found by string search inside their clause, with the
file's ``begin`` offset only as a hint: the offsets are wrong for about 7% of spans.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError
from ecct.data.model import CATEGORIES, Document, Span, Triplet, find_span
from ecct.data.readers.base import ReadResult, RecordSink, read_text

NS = "{http://www.w3.org/2009/10/emotionml}"
BLOCK_START = re.compile(r"<emotionml\b")
BLOCK_END = "</emotionml>"
# xmlns:meta=".../emotion_cause/<N>.txt" names the news article; ElementTree drops namespace declarations.
ARTICLE = re.compile(r'xmlns:meta="[^"]*?([^/"]+?)(?:\.txt)?"')
SOURCE = "gui2016_xml"
# (role, element, offset attribute, length attribute); the odd spellings are the file's own.
SPAN_ELEMENTS = (("keyword", "keywords", "key-words-begin", "keywords-length"), ("cause", "cause", "begin", "length"))


def locate(sink: RecordSink, element: ET.Element, clause: str, offset: int, hint: str, location: str) -> Span:
    """The element's text as a Span of the document: searched in its clause (starting at ``offset``)."""
    needle = (element.text or "").strip()
    what = element.tag.removeprefix(NS)
    if not needle:
        raise sink.error(location, f"empty <{what}>", "empty span")
    begin = element.get(hint, "").strip()
    span = find_span(clause, needle, int(begin) if begin.isdigit() else None)
    if span is None:
        raise sink.error(location, f"<{what}> {needle!r} is not in its clause {clause!r}", "span not in text")
    return Span(offset + span.start, offset + span.end, needle)


def parse_emotion(sink: RecordSink, root: ET.Element, location: str) -> Document:
    """The one ``<emotion>`` of a parsed block as a Document."""
    emotions = root.findall(f"{NS}emotion")
    if root.tag != f"{NS}emotionml" or len(emotions) != 1:
        problem = f"expected one <emotion> in an <emotionml> block, found {len(emotions)}"
        raise sink.error(location, problem, "malformed xml")
    emotion = emotions[0]
    emotion_id = emotion.get("id", "").strip()
    if not emotion_id:
        raise sink.error(location, "<emotion> has no id", "malformed xml")
    location = f"{location} (emotion id {emotion_id})"
    category_element = emotion.find(f"{NS}category")
    category = "" if category_element is None else category_element.get("name", "")
    if category not in CATEGORIES:
        raise sink.error(location, f"unknown category {category!r}; expected one of {CATEGORIES}", "unknown category")
    text, clauses = "", []
    found: dict[str, list[Span]] = {"keyword": [], "cause": []}
    misses = dict.fromkeys(found, 0)  # spans whose begin/length attributes are wrong
    for clause in emotion.findall(f"{NS}clause"):
        text_element = clause.find(f"{NS}text")
        if text_element is None:
            raise sink.error(location, f"clause {clause.get('id')} has no <text>", "malformed xml")
        clause_text = (text_element.text or "").strip()
        start = len(text)
        for role, tag, hint, length in SPAN_ELEMENTS:
            for element in clause.findall(f"{NS}{tag}"):
                span = locate(sink, element, clause_text, start, hint, location)
                found[role].append(span)
                hinted = (element.get(hint), element.get(length))
                misses[role] += hinted != (str(span.start - start), str(len(span.text)))
        text += clause_text
        clauses.append({"id": clause.get("id"), "start": start, "end": len(text)})
    if not text.strip():
        raise sink.error(location, "empty text", "empty text")
    keywords, causes = found["keyword"], found["cause"]
    if len(keywords) != 1:
        raise sink.error(location, f"expected one <keywords> emotion keyword, found {len(keywords)}", "not one emotion")
    if not causes:
        raise sink.error(location, "no <cause>", "no cause")
    meta: dict[str, Any] = {"clauses": clauses, "offset_hint_misses": misses}
    document = Document(
        id=emotion_id,
        text=text,
        language="zh",
        source=SOURCE,
        triplets=[Triplet(keywords[0], cause, category) for cause in causes],
        meta=meta,
    )
    return sink.checked(document, location)


def parse_block(sink: RecordSink, block: str, line: int) -> Document:
    try:
        root = ET.fromstring(block)
    except ET.ParseError as err:
        row, column = err.position
        problem = f"malformed XML ({str(err).split(':')[0]})"  # the message's own position is block-relative
        raise sink.error(f"line {line + row - 1}, column {column}", problem, "malformed xml") from None
    document = parse_emotion(sink, root, f"line {line}")
    article = ARTICLE.search(block[: block.find(">")])
    document.meta["article"] = article.group(1) if article else None
    return document


def check_outside(sink: RecordSink, raw: str, start: int, end: int) -> None:
    """Anything but whitespace between blocks is a broken block or stray text: report it, never drop it."""
    stray = raw[start:end]
    if stray.strip():
        line = 1 + raw.count("\n", 0, start + len(stray) - len(stray.lstrip()))
        problem = f"text outside an <emotionml> block: {stray.strip()[:40]!r}"
        sink.skip(sink.error(f"line {line}", problem, "malformed xml"))


def read_gui2016_xml(path: str | Path, *, lenient: bool = False) -> ReadResult:
    """Read the concatenated EmotionML blocks into one Document per emotion instance."""
    sink = RecordSink(path, lenient=lenient)
    raw = read_text(path)
    starts = [match.start() for match in BLOCK_START.finditer(raw)]
    check_outside(sink, raw, 0, starts[0] if starts else len(raw))
    line = 1 + raw.count("\n", 0, starts[0]) if starts else 1
    for start, end in zip(starts, [*starts[1:], len(raw)], strict=True):
        close = raw.find(BLOCK_END, start, end)
        stop = end if close == -1 else close + len(BLOCK_END)
        try:
            document = parse_block(sink, raw[start:stop], line)
            sink.claim_id(document.id, f"line {line}")
            sink.documents.append(document)
        except DataError as err:
            sink.skip(err)
        check_outside(sink, raw, stop, end)
        line += raw.count("\n", start, end)
    return sink.result()
