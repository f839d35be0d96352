"""Corpus readers: each turns one file format into validated, sorted Documents.

Every reader has the signature ``(path, *, lenient=False) -> ReadResult``. Strict reading raises a
``DataError`` at the first bad record; lenient reading skips bad records and counts them in
``ReadResult.skipped``.
"""

from collections.abc import Callable

from ecct.data.readers.base import ReadResult
from ecct.data.readers.ecf import read_ecf
from ecct.data.readers.emotion_stimulus import read_emotion_stimulus
from ecct.data.readers.gui_csv import read_gui2016_csv
from ecct.data.readers.gui_xml import read_gui2016_xml
from ecct.data.readers.jsonl import read_jsonl, write_jsonl
from ecct.data.readers.reccon import read_reccon

Reader = Callable[..., ReadResult]

READERS: dict[str, Reader] = {
    "gui2016_csv": read_gui2016_csv,
    "gui2016_xml": read_gui2016_xml,
    "ecf": read_ecf,
    "jsonl": read_jsonl,
    "reccon": read_reccon,
    "emotion_stimulus": read_emotion_stimulus,
}

__all__ = [
    "READERS",
    "ReadResult",
    "Reader",
    "read_ecf",
    "read_emotion_stimulus",
    "read_gui2016_csv",
    "read_gui2016_xml",
    "read_jsonl",
    "read_reccon",
    "write_jsonl",
]
