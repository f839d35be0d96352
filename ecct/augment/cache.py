"""Append-only JSONL store of raw generations, one folder per cache key.

``<root>/<corpus>-<split>/<generator>-<hash>/generations.jsonl`` holds one record per generated sample:
``{"source_id", "sample", "source_sha", "output"}``, written and flushed as soon as it exists, so a killed job
loses at most the line being written. ``key.json`` next to it spells out the key (corpus split, generator,
prompt version, sampling parameters, seed) the hash was made from.

Reading tolerates a truncated or garbled line (counted in ``bad_lines``); before appending, a missing final
newline is restored so the next record never glues onto a broken one. A (source id, sample) pair seen twice
keeps its first record (``duplicates`` counts the rest). Raw outputs are cached, not filter decisions, so
filters can change without regenerating.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)


def key_hash(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _slug(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", value).strip("_")[:60] or "x"


@dataclass(frozen=True)
class CachedSample:
    source_id: str
    sample: int
    source_sha: str
    output: str


@dataclass
class GenerationCache:
    """The generations of one cache key; ``samples[(source_id, sample)]`` after ``load``."""

    folder: Path
    key: Mapping[str, Any]
    samples: dict[tuple[str, int], CachedSample] = field(default_factory=dict)
    bad_lines: int = 0
    duplicates: int = 0
    written: int = 0
    _handle: TextIO | None = field(default=None, repr=False)

    @classmethod
    def open(cls, root: Path, split: str, generator_id: str, key: Mapping[str, Any]) -> GenerationCache:
        folder = Path(root) / _slug(split) / f"{_slug(generator_id)}-{key_hash(key)}"
        folder.mkdir(parents=True, exist_ok=True)
        key_file = folder / "key.json"
        if not key_file.exists():
            key_file.write_text(json.dumps(key, indent=2, sort_keys=True, ensure_ascii=False), encoding="utf-8")
        cache = cls(folder=folder, key=key)
        cache.load()
        return cache

    @property
    def path(self) -> Path:
        return self.folder / "generations.jsonl"

    def load(self) -> None:
        self.samples.clear()
        self.bad_lines = self.duplicates = 0
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    sample = CachedSample(
                        source_id=str(record["source_id"]),
                        sample=int(record["sample"]),
                        source_sha=str(record["source_sha"]),
                        output=str(record["output"]),
                    )
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    self.bad_lines += 1
                    log.warning("%s:%d: unreadable cache line skipped (a job killed mid-write?)", self.path, number)
                    continue
                pair = (sample.source_id, sample.sample)
                if pair in self.samples:
                    self.duplicates += 1
                    continue
                self.samples[pair] = sample

    def __contains__(self, pair: tuple[str, int]) -> bool:
        return pair in self.samples

    def append(self, sample: CachedSample) -> None:
        """Write one record and flush it now; a pair already stored is not written again."""
        pair = (sample.source_id, sample.sample)
        if pair in self.samples:
            self.duplicates += 1
            return
        if self._handle is None:
            self._repair_tail()
            self._handle = self.path.open("a", encoding="utf-8")
        record = {"source_id": sample.source_id, "sample": sample.sample, "source_sha": sample.source_sha}
        record["output"] = sample.output
        self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._handle.flush()
        self.samples[pair] = sample
        self.written += 1

    def _repair_tail(self) -> None:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with self.path.open("rb") as handle:
            handle.seek(-1, 2)
            last = handle.read(1)
        if last != b"\n":
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> GenerationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
