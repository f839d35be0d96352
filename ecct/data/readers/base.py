"""What every reader shares: the result type and strict/lenient handling of bad records.

Strict reading (the default) raises the first ``DataError``; lenient reading skips the bad record,
counts it by reason in a ``SkipReport`` and logs the report once at warning level.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import Document

logger = logging.getLogger(__name__)


@dataclass
class ReadResult:
    """The documents a reader produced and what it skipped (always empty in strict mode)."""

    documents: list[Document]
    skipped: SkipReport


class RecordSink:
    """Collects documents of one file; decides whether a bad record raises or is skipped."""

    def __init__(self, path: str | Path, *, lenient: bool):
        self.origin = str(path)
        self.lenient = lenient
        self.documents: list[Document] = []
        self.skipped = SkipReport(self.origin)
        self._seen_ids: dict[str, str] = {}

    def skip(self, error: DataError) -> None:
        """Raise ``error`` in strict mode; count it in lenient mode."""
        if not self.lenient:
            raise error
        self.skipped.add(error)

    def note(self, notes: Counter[str]) -> None:
        """Count what a good record kept but could not represent (see ``SkipReport.notes``)."""
        for what, n in notes.items():
            self.skipped.note(what, n)

    def claim_id(self, record_id: str, location: str) -> None:
        """Reject a second record with an id already seen (the first one wins)."""
        if record_id in self._seen_ids:
            raise DataError(
                self.origin,
                location,
                f"duplicate id {record_id!r} (first seen at {self._seen_ids[record_id]})",
                reason="duplicate id",
            )
        self._seen_ids[record_id] = location

    def error(self, location: str, problem: str, reason: str) -> DataError:
        return DataError(self.origin, location, problem, reason=reason)

    def checked(self, document: Document, location: str) -> Document:
        """``document`` validated and sorted; a validation error names ``location`` (line or record) too."""
        try:
            document.validate(self.origin)
        except DataError as err:
            raise DataError(self.origin, f"{location}, {err.location}", err.problem, reason=err.reason) from None
        return document.sorted()

    def result(self, documents: list[Document] | None = None) -> ReadResult:
        """The final result; logs the skip report when anything was skipped."""
        if self.skipped.total:
            logger.warning("%s", self.skipped)
        return ReadResult(documents=self.documents if documents is None else documents, skipped=self.skipped)


def read_text(path: str | Path) -> str:
    """A whole UTF-8 file (a BOM is dropped, line endings become ``\\n``); undecodable bytes are a DataError."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(str(path), f"byte {err.start}", f"not valid UTF-8 ({err.reason})", reason="not utf-8") from None


TOO_DEEP = "malformed JSON (nested too deeply to read)"


def load_json(sink: RecordSink, path: str | Path, **kwargs: Any) -> Any:
    """A whole JSON file (``json.loads`` keyword arguments pass through); malformed JSON is a DataError.

    There are no good records to keep in a file that does not parse, so this raises even in lenient mode.
    JSON nested deeper than Python's recursion limit is malformed too (a ``RecursionError`` inside the decoder).
    """
    text = read_text(path)
    try:
        return json.loads(text, **kwargs)
    except json.JSONDecodeError as err:
        raise sink.error(
            f"line {err.lineno}, column {err.colno}", f"malformed JSON ({err.msg})", "malformed json"
        ) from None
    except RecursionError:
        raise sink.error("the whole file", TOO_DEEP, "malformed json") from None
