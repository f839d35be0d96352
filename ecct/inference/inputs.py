"""What ``ecct.predict`` extracts from: ``text=...`` or a file, recognised by its content.

- JSON Lines (a ``.jsonl`` file, or any file whose first non-blank line is a JSON object): ecct corpus records
  or ``{"id", "text"[, "language"]}`` lines;
- JSON (a ``.json`` file, or any file that parses as one JSON value): a list of such records, or an ECF 2.0
  conversation file (read as ``data=ecf_test`` reads it); any other JSON is refused with the list of input kinds;
- plain text: one document per non-blank line (lines end at ``\\n`` or ``\\r\\n`` only, so ``line-N`` is line N of
  the file), or ``text_file_mode=whole``.

A UTF-8 byte order mark is dropped. A document that cannot be predicted (a plain-text line that is not valid UTF-8,
a text or id with a lone surrogate such as ``\\ud800``, which no tokenizer or UTF-8 file can hold) is not an error:
it is kept in ``Inputs.rejected`` with its id and the reason, and predict writes it as a skipped record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import Document

TEXT_FILE_MODES = ("lines", "whole")
INPUT_KINDS = (
    'JSON Lines (.jsonl: one ecct corpus record or {"id", "text"[, "language"]} object per line)',
    "a JSON list of such records (.json)",
    "an ECF 2.0 conversation file (.json, as data=ecf_test reads it)",
    "plain text (one document per non-blank line; text_file_mode=whole: the whole file)",
)

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CORPUS_ONLY_KEYS = {"triplets", "source", "meta"}
_BOM = b"\xef\xbb\xbf"


class PredictError(ValueError):
    """A prediction request that cannot work; the message names the argument or file and what to change."""


def guess_language(text: str) -> str:
    """``zh`` when the text has CJK ideographs, else ``en`` (only the prompt and the records use it)."""
    return "zh" if _CJK.search(text) else "en"


@dataclass(frozen=True)
class Rejected:
    """A document predict cannot run on: its id (printable) and why."""

    id: str
    reason: str


@dataclass
class Inputs:
    documents: list[Document]
    labelled: bool  # gold triplets were given (ecct corpus records)
    skipped: SkipReport  # bad lines or records (lenient reading), counted by reason
    rejected: list[Rejected] = field(default_factory=list)  # documents that cannot be predicted, in input order
    kind: str = "text"
    order: list[str] = field(default_factory=list)  # every id (documents and rejected) in input order


def printable(value: str) -> str:
    """``value`` with lone surrogates written as ``\\udXXX`` escapes, so a record naming it can be written."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def encoding_problem(document: Document) -> str | None:
    """Why ``document`` cannot go through a tokenizer or into a UTF-8 file, or None."""
    for what, value in (("id", document.id), ("text", document.text)):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            char = ord(value[err.start])
            return f"{what} cannot be encoded as UTF-8 (lone surrogate U+{char:04X} at character {err.start})"
    return None


def _utf8_problem(err: UnicodeDecodeError, line: int, column_base: int = 0) -> str:
    byte = err.object[err.start]
    return f"not valid UTF-8: byte 0x{byte:02x} at line {line}, byte {err.start - column_base + 1} ({err.reason})"


def read_inputs(
    text: str | None = None,
    path: str | Path | None = None,
    text_file_mode: str = "lines",
    language: str | None = None,
    lenient: bool = False,
) -> Inputs:
    """Documents from ``text`` or a file (see the module); bad lines or records raise unless ``lenient``."""
    if (text is None) == (path is None):
        raise PredictError('give exactly one of text="..." or input=FILE')
    if language is not None and language not in ("zh", "en"):
        raise PredictError(f"language={language!r}: expected zh, en or null (guess from the text)")
    if text is not None:
        if not text.strip():
            raise PredictError("text=...: the text is blank")
        doc = Document(id="text", text=text, language=language or guess_language(text), source="cli")
        return _checked(Inputs([doc], False, SkipReport("text"), kind="text"))
    path = Path(path)  # type: ignore[arg-type]
    if not path.is_file():
        raise PredictError(f"input={str(path)!r}: no such file")
    if text_file_mode not in TEXT_FILE_MODES:
        raise PredictError(f"text_file_mode={text_file_mode!r}: expected one of {TEXT_FILE_MODES}")
    raw = path.read_bytes()
    raw = raw[len(_BOM) :] if raw.startswith(_BOM) else raw
    kind = _sniff(path, raw)
    if kind == "jsonl":
        inputs = _read_jsonl_inputs(path, raw, language, lenient)
    elif kind == "json":
        inputs = _read_json_inputs(path, raw, language, lenient)
    else:
        inputs = _read_text_inputs(path, raw, text_file_mode, language)
    if not inputs.documents and not inputs.rejected:
        raise PredictError(f"{path}: no document to extract from ({inputs.skipped.total} bad lines skipped)")
    return _checked(inputs)


def _checked(inputs: Inputs) -> Inputs:
    """Documents that cannot be encoded move to ``rejected``; ``order`` lists every id in input order."""
    order = inputs.order or [printable(doc.id) for doc in inputs.documents]
    kept = []
    for doc in inputs.documents:
        problem = encoding_problem(doc)
        if problem is None:
            kept.append(doc)
        else:
            inputs.rejected.append(Rejected(printable(doc.id), problem))
    inputs.documents, inputs.order = kept, order
    return inputs


def _sniff(path: Path, raw: bytes) -> str:
    """``jsonl``, ``json`` or ``text``: the suffix when it says JSON, else the content."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "jsonl"
    if suffix == ".json":
        return "json"
    head = raw.lstrip()[:1]
    if head not in (b"{", b"["):
        return "text"
    try:
        json.loads(raw.decode("utf-8"))
        return "json"
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        pass
    first = raw.lstrip().split(b"\n", 1)[0]
    try:
        return "jsonl" if isinstance(json.loads(first.decode("utf-8")), dict) else "text"
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "text"


def _lines(raw: bytes) -> list[bytes]:
    """The file's lines, split on ``\\n`` only (a ``\\r`` before it is dropped): line N is ``lines[N - 1]``."""
    return [line[:-1] if line.endswith(b"\r") else line for line in raw.split(b"\n")]


def _read_text_inputs(path: Path, raw: bytes, mode: str, language: str | None) -> Inputs:
    source = str(path)
    if mode == "whole":
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw.count(b"\n", 0, err.start) + 1
            line_start = raw.rfind(b"\n", 0, err.start) + 1
            raise PredictError(f"{path}: {_utf8_problem(err, line, line_start)}") from None
        if not content.strip():
            raise PredictError(f"{path}: the file is blank")
        doc = Document(id="line-1", text=content.strip(), language=language or guess_language(content), source=source)
        return Inputs([doc], False, SkipReport(source), kind="text (whole file)")
    documents, rejected, order = [], [], []
    for number, line in enumerate(_lines(raw), start=1):
        doc_id = f"line-{number}"
        try:
            piece = line.decode("utf-8").strip()
        except UnicodeDecodeError as err:
            rejected.append(Rejected(doc_id, _utf8_problem(err, number)))
            order.append(doc_id)
            continue
        if piece:
            documents.append(Document(doc_id, piece, language=language or guess_language(piece), source=source))
            order.append(doc_id)
    return Inputs(documents, False, SkipReport(source), rejected, kind="text (one document per line)", order=order)


def _read_jsonl_inputs(path: Path, raw: bytes, language: str | None, lenient: bool) -> Inputs:
    from ecct.data.readers.base import TOO_DEEP, RecordSink

    sink = RecordSink(path, lenient=lenient)
    labelled = False
    for number, data in enumerate(_lines(raw), start=1):
        location = f"line {number}"
        try:
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as err:
                raise sink.error(location, _utf8_problem(err, number), "not utf-8") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise sink.error(
                    location, f"malformed JSON ({err.msg}, column {err.colno})", "malformed json"
                ) from None
            except RecursionError:
                raise sink.error(location, TOO_DEEP, "malformed json") from None
            document, gold = _record(sink, record, line, location, language)
            labelled = labelled or gold
            sink.documents.append(document)
        except DataError as err:
            sink.skip(err)
    return Inputs(sink.documents, labelled, sink.skipped, kind="jsonl")


def _record(sink: Any, record: Any, line: str, location: str, language: str | None) -> tuple[Document, bool]:
    """One record: a full corpus record (validated, gold kept) or a simple ``{"id", "text"}`` object."""
    from ecct.data.readers.jsonl import parse_record

    if isinstance(record, dict) and _CORPUS_ONLY_KEYS & set(record):
        return parse_record(sink, line, location), "triplets" in record  # validated, id claimed
    document = _simple_record(sink, record, location, language)
    sink.claim_id(document.id, location)
    return document, False


def _read_json_inputs(path: Path, raw: bytes, language: str | None, lenient: bool) -> Inputs:
    from ecct.data.readers.base import RecordSink, load_json
    from ecct.data.readers.ecf import read_ecf

    sink = RecordSink(path, lenient=lenient)
    value = load_json(sink, path)  # names the line and column of malformed JSON; too deep is malformed too
    if isinstance(value, list) and value and all(isinstance(v, dict) and "conversation" in v for v in value):
        result = read_ecf(path, lenient=lenient)
        labelled = any(doc.triplets for doc in result.documents)
        return Inputs(result.documents, labelled, result.skipped, kind="ECF 2.0 conversations")
    if not (isinstance(value, list) and all(isinstance(v, dict) and "text" in v for v in value)):
        kinds = "\n  - ".join(INPUT_KINDS)
        raise PredictError(
            f"{path}: JSON, but not a kind ecct.predict reads (expected a list of records with 'text', or an ECF "
            f"2.0 conversation list). Input kinds:\n  - {kinds}\nOther corpora: convert them to JSON Lines."
        )
    labelled = False
    for index, record in enumerate(value):
        location = f"record {index}"
        try:
            document, gold = _record(sink, record, json.dumps(record, ensure_ascii=False), location, language)
            labelled = labelled or gold
            sink.documents.append(document)
        except DataError as err:
            sink.skip(err)
    return Inputs(sink.documents, labelled, sink.skipped, kind="json records")


def _simple_record(sink: Any, record: Any, location: str, language: str | None) -> Document:
    if not isinstance(record, dict):
        raise sink.error(location, f"expected a JSON object, got {type(record).__name__}", "malformed record")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise sink.error(location, "'text' must be a non-blank string", "malformed record")
    raw_id = record.get("id", location.replace(" ", "-"))
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise sink.error(location, f"'id' must be a string or an integer, got {raw_id!r}", "malformed record")
    lang = record.get("language") or language or guess_language(text)
    if lang not in ("zh", "en"):
        raise sink.error(location, f"'language' must be zh or en, got {lang!r}", "unknown language")
    return Document(id=str(raw_id), text=text, language=lang, source="jsonl")
