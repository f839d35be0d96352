"""Where ``ecct.predict`` writes: a header line, then every finished batch appended and flushed at once.

A stopped run leaves every finished batch in ``output=FILE``. Running the same command again (``resume=true``, the
default) reads that file and predicts only the documents it does not hold yet; a cut last line (the process was
killed while writing it) is dropped and that document predicted again. The header must match (same adapter, input,
decoding mode, ``max_new_tokens`` and output format), else the run stops and says so; ``resume=false`` overwrites
the file. When the run completes, the file is rewritten in input order (atomically).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from ecct.inference.inputs import PredictError
from ecct.jsonl import json_line
from ecct.output.records import HEADER_KEY, is_header

RESUME_KEYS = (
    "adapter",
    "input",
    "decoding",
    "cause_clauses",
    "cause_outside_emotion",
    "allow_empty",
    "max_new_tokens",
    "output_format",
)
RESUME_DEFAULTS = {"allow_empty": True, "cause_outside_emotion": False}  # headers written before the key existed


class PredictionOutput:
    """The output of one predict run: a JSON Lines file (resumable) or standard output (``path=None``)."""

    def __init__(self, path: str | Path | None, header: dict[str, Any], resume: bool = True):
        self.path = None if path is None else Path(path)
        self.header = header
        self.done: dict[str, dict[str, Any]] = {}  # records already in the file, by id
        self.written: list[dict[str, Any]] = []  # records this run wrote
        self._handle: TextIO
        if self.path is None:
            self._handle = sys.stdout
            self._write([header])
            return
        if self.path.is_dir():
            raise PredictError(
                f"output={str(self.path)!r} is a folder; give a file name (e.g. {self.path}/preds.jsonl)"
            )
        try:
            if resume and self.path.is_file() and self.path.stat().st_size:
                self.done = self._read_existing()
                self._handle = self.path.open("a", encoding="utf-8")
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self.path.open("w", encoding="utf-8")
                self._write([header])
        except OSError as err:
            raise PredictError(f"output={str(self.path)!r}: cannot write there ({err.strerror or err})") from None

    def write(self, records: list[dict[str, Any]]) -> None:
        """Append ``records`` and flush: what is written survives the process being stopped right after."""
        self.written.extend(records)
        self._write(records)

    def _write(self, records: list[dict[str, Any]]) -> None:
        self._handle.write("".join(json_line(record) for record in records))
        self._handle.flush()

    def close(self) -> None:
        if self.path is not None and not self._handle.closed:
            self._handle.close()

    def finish(self, order: list[str]) -> list[dict[str, Any]]:
        """Close; every record (resumed and new) in input order, the file rewritten in that order."""
        self.close()
        position = {doc_id: i for i, doc_id in enumerate(order)}
        records = sorted([*self.done.values(), *self.written], key=lambda r: position.get(str(r["id"]), len(order)))
        if self.path is not None:
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text("".join(json_line(r) for r in [self.header, *records]), encoding="utf-8")
            os.replace(temporary, self.path)
        return records

    def _read_existing(self) -> dict[str, dict[str, Any]]:
        assert self.path is not None
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        complete = text.endswith("\n")
        where = f"output={str(self.path)!r}"
        try:
            first = json.loads(lines[0])
        except json.JSONDecodeError:
            first = None
        if not is_header(first):
            raise PredictError(
                f"{where} exists and is not an ecct.predict output (no header line); resume=false overwrites it"
            )
        before, now = first[HEADER_KEY], self.header[HEADER_KEY]
        for key in RESUME_KEYS:
            old, new = before.get(key, RESUME_DEFAULTS.get(key)), now.get(key, RESUME_DEFAULTS.get(key))
            if old != new:
                raise PredictError(
                    f"{where} holds predictions made with {key}={old!r}, this run has "
                    f"{key}={new!r}: it cannot be resumed; resume=false overwrites it (or choose another file)"
                )
        done: dict[str, dict[str, Any]] = {}
        body = lines[1:]
        for number, line in enumerate(body, start=2):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "id" not in record:
                    raise ValueError("not a record with an id")
            except ValueError as err:
                if number == len(lines) and not complete:  # cut while being written: predicted again
                    self.path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
                    return done
                raise PredictError(f"{where}: line {number} is not a prediction record ({err}); resume=false") from None
            done[str(record["id"])] = record
        if not complete:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n")
        return done
