"""JSON Lines output: the one writer for corpus files, predictions, logs and caches."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def json_line(record: Any) -> str:
    """One record as a line; objects with ``to_dict()`` (``Document``) are written as that dict."""
    value = record.to_dict() if hasattr(record, "to_dict") else record
    return json.dumps(value, ensure_ascii=False) + "\n"


def write_jsonl(records: Iterable[Any], path: str | Path, *, append: bool = False) -> Path:
    """Write (or append) one JSON object per line, UTF-8; creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json_line(record))
    return path
