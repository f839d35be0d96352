"""What ``ecct.predict`` extracts from: ``text=...``, a ``.jsonl`` file (ecct corpus records or ``{"id", "text"}``
lines) or a plain-text file (one document per line, or ``text_file_mode=whole``)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import Document

TEXT_FILE_MODES = ("lines", "whole")

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CORPUS_ONLY_KEYS = {"triplets", "source", "meta"}


class PredictError(ValueError):
    """A prediction request that cannot work; the message names the argument or file and what to change."""


def guess_language(text: str) -> str:
    """``zh`` when the text has CJK ideographs, else ``en`` (only the prompt and the records use it)."""
    return "zh" if _CJK.search(text) else "en"


@dataclass
class Inputs:
    documents: list[Document]
    labelled: bool  # gold triplets were given (ecct corpus records)
    skipped: SkipReport


def read_inputs(
    text: str | None = None,
    path: str | Path | None = None,
    text_file_mode: str = "lines",
    language: str | None = None,
    lenient: bool = False,
) -> Inputs:
    """Documents from ``text`` or a file (see ``ecct.predict``); bad lines raise unless ``lenient``."""
    if (text is None) == (path is None):
        raise PredictError('give exactly one of text="..." or input=FILE')
    if language is not None and language not in ("zh", "en"):
        raise PredictError(f"language={language!r}: expected zh, en or null (guess from the text)")
    if text is not None:
        if not text.strip():
            raise PredictError("text=...: the text is blank")
        doc = Document(id="text", text=text, language=language or guess_language(text), source="cli")
        return Inputs([doc], False, SkipReport("text"))
    path = Path(path)  # type: ignore[arg-type]
    if not path.is_file():
        raise PredictError(f"input={str(path)!r}: no such file")
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl_inputs(path, language, lenient)
    if text_file_mode not in TEXT_FILE_MODES:
        raise PredictError(f"text_file_mode={text_file_mode!r}: expected one of {TEXT_FILE_MODES}")
    content = path.read_text(encoding="utf-8")
    if text_file_mode == "whole":
        if not content.strip():
            raise PredictError(f"{path}: the file is blank")
        pieces = [(1, content.strip())]
    else:
        pieces = [(n, line.strip()) for n, line in enumerate(content.splitlines(), start=1) if line.strip()]
    documents = [
        Document(id=f"line-{n}", text=piece, language=language or guess_language(piece), source=str(path))
        for n, piece in pieces
    ]
    if not documents:
        raise PredictError(f"{path}: no non-blank line to extract from")
    return Inputs(documents, False, SkipReport(str(path)))


def _read_jsonl_inputs(path: Path, language: str | None, lenient: bool) -> Inputs:
    from ecct.data.readers.base import RecordSink
    from ecct.data.readers.jsonl import parse_record

    sink = RecordSink(path, lenient=lenient)
    labelled = False
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        location = f"line {number}"
        try:
            record = json.loads(line)
            if isinstance(record, dict) and _CORPUS_ONLY_KEYS & set(record):
                document = parse_record(sink, line, location)  # a full corpus record, validated, id claimed
                labelled = labelled or "triplets" in record
            else:
                document = _simple_record(sink, record, number, language)
                sink.claim_id(document.id, location)
            sink.documents.append(document)
        except json.JSONDecodeError as err:
            sink.skip(sink.error(location, f"malformed JSON ({err.msg}, column {err.colno})", "malformed json"))
        except DataError as err:
            sink.skip(err)
    if not sink.documents:
        raise PredictError(f"{path}: no document to extract from ({sink.skipped.total} bad lines skipped)")
    return Inputs(sink.documents, labelled, sink.skipped)


def _simple_record(sink: Any, record: Any, number: int, language: str | None) -> Document:
    location = f"line {number}"
    if not isinstance(record, dict):
        raise sink.error(location, f"expected a JSON object, got {type(record).__name__}", "malformed record")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise sink.error(location, "'text' must be a non-blank string", "malformed record")
    raw_id = record.get("id", f"line-{number}")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise sink.error(location, f"'id' must be a string or an integer, got {raw_id!r}", "malformed record")
    lang = record.get("language") or language or guess_language(text)
    if lang not in ("zh", "en"):
        raise sink.error(location, f"'language' must be zh or en, got {lang!r}", "unknown language")
    return Document(id=str(raw_id), text=text, language=lang, source="jsonl")
