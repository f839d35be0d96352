"""A corpus as the rest of ecct sees it: documents read by the configured reader, plus their split.

``load_corpus`` takes the Hydra ``data`` group node (``conf/data/*.yaml``)::

    name: gui2016
    reader: gui2016_csv              # one of ecct.data.readers.READERS
    file: gui2016_ece_rthn/datacsv_2105.csv   # inside the data dir ...
    path: null                       # ... or an explicit path (pkg://ecct.data/... for packaged files)
    language: zh                     # zh | en | null (mixed: each document says)
    lenient: false                   # skip and count bad records instead of failing
    max_documents: null              # keep the first N documents of each split part (quick runs)
    split: {scheme: split20, index: 1, seed: 42, ratios: [0.8, 0.1, 0.1]}
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import LANGUAGES, Document
from ecct.data.paths import HOW_TO_OBTAIN, DataDirNotFound, resolve_data_dir
from ecct.data.readers.base import ReadResult
from ecct.data.splits import ECPE_VALID_FRACTION, PARTS, Split, make_split
from ecct.settings import flag

logger = logging.getLogger(__name__)

PACKAGE_PREFIX = "pkg://"
DATA_KEYS = frozenset({"name", "reader", "file", "path", "language", "lenient", "max_documents", "split"})
SPLIT_KEYS = frozenset({"scheme", "index", "fold", "seed", "ratios", "valid_fraction"})


class CorpusConfigError(ValueError):
    """A ``data`` config that cannot be used: the message names the key and what is wrong."""


@dataclass
class Corpus:
    """Documents of one corpus, what the reader skipped, and the document-level split."""

    name: str
    documents: list[Document]
    skipped: SkipReport
    split: Split
    language: str | None = None
    path: str = ""
    _by_id: dict[str, Document] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id = {doc.id: doc for doc in self.documents}

    def part(self, name: str) -> list[Document]:
        """The documents of one split part, in split order."""
        if name not in PARTS:
            raise KeyError(f"unknown split part {name!r}; expected one of {PARTS}")
        return [self._by_id[doc_id] for doc_id in self.split.parts[name]]


def load_corpus(data_cfg: Any, data_dir: str | os.PathLike[str] | None = None) -> Corpus:
    """Read the corpus ``data_cfg`` describes, split it, and log counts and the skip report."""
    cfg = _as_dict(data_cfg)
    unknown = set(cfg) - DATA_KEYS
    if unknown:
        raise CorpusConfigError(f"data config: unknown key(s) {sorted(unknown)}; known keys: {sorted(DATA_KEYS)}")
    name = _required(cfg, "name")
    path = _corpus_path(cfg, data_dir)
    language = cfg.get("language")
    if language is not None and language not in LANGUAGES:
        raise CorpusConfigError(f"data.language must be one of {LANGUAGES} or null (mixed), got {language!r}")

    # The whole config is checked before the (possibly slow) read.
    reader = _reader(_required(cfg, "reader"))
    split_args = _split_args(cfg.get("split") or {})
    max_documents = _check_max_documents(cfg.get("max_documents"))

    result = reader(path, lenient=flag(cfg, "lenient", False, "data", CorpusConfigError))
    documents = result.documents
    if language is not None:
        _check_language(documents, language, str(path))
    split = make_split(documents, data_dir=data_dir, **split_args)
    split, documents = _cap(split, documents, max_documents)

    logger.info("corpus %s: %d documents from %s, split %s %s", name, len(documents), path, split.name, split.sizes)
    for note in split.notes:
        logger.info("split %s: %s", split.name, note)
    logger.info("%s", result.skipped)
    return Corpus(name, documents, result.skipped, split, language=language, path=str(path))


# ------------------------------------------------------------------------------------------------- helpers


def _as_dict(data_cfg: Any) -> dict[str, Any]:
    if isinstance(data_cfg, DictConfig):
        # Missing values ("???") stay as the string so the error can name the key.
        return dict(OmegaConf.to_container(data_cfg, resolve=True, throw_on_missing=False))  # type: ignore[arg-type]
    if isinstance(data_cfg, Mapping):
        return dict(data_cfg)
    raise CorpusConfigError(f"data config must be a mapping (the Hydra 'data' node), got {type(data_cfg).__name__}")


def _required(cfg: Mapping[str, Any], key: str) -> str:
    value = cfg.get(key)
    if value in (None, "", "???"):
        raise CorpusConfigError(f"data.{key} is required (got {value!r})")
    return str(value)


def _corpus_path(cfg: Mapping[str, Any], data_dir: str | os.PathLike[str] | None) -> Path:
    """``path`` (explicit, or ``pkg://package/resource``) or ``file`` inside the data dir; exactly one of them."""
    file, path = cfg.get("file"), cfg.get("path")
    if path == "???":
        raise CorpusConfigError("data.path is required: give the corpus file, e.g. data.path=/abs/or/relative.jsonl")
    if (file is None) == (path is None):
        raise CorpusConfigError(
            f"data config needs exactly one of 'file' (inside the data dir) or 'path'; got file={file!r}, path={path!r}"
        )
    if file is not None:
        resolved = resolve_data_dir(data_dir) / str(file)
        if not resolved.is_file():
            raise DataDirNotFound(f"data.file: corpus file {resolved} does not exist. {HOW_TO_OBTAIN}")
        return resolved
    path = str(path)
    if path.startswith(PACKAGE_PREFIX):
        package, _, resource = path[len(PACKAGE_PREFIX) :].partition("/")
        resolved = Path(str(resources.files(package).joinpath(resource)))
    else:
        resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise FileNotFoundError(f"data.path: corpus file {resolved} does not exist (from data.path={path!r})")
    return resolved


def _reader(name: str) -> Callable[..., ReadResult]:
    from ecct.data import readers

    if name not in readers.READERS:
        raise CorpusConfigError(f"data.reader: unknown reader {name!r}; expected one of {sorted(readers.READERS)}")
    return readers.READERS[name]


def _check_language(documents: list[Document], language: str, origin: str) -> None:
    wrong = [doc for doc in documents if doc.language != language]
    if wrong:
        raise DataError(
            origin,
            f"document {wrong[0].id!r}",
            f"language {wrong[0].language!r} but data.language is {language!r} ({len(wrong)} such documents); "
            "set data.language=null for a mixed corpus",
            reason="language mismatch",
        )


def _split_args(split_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``make_split`` keyword arguments from ``data.split``; ``fold`` is another name for ``index``."""
    unknown = set(split_cfg) - SPLIT_KEYS
    if unknown:
        raise CorpusConfigError(f"data.split: unknown key(s) {sorted(unknown)}; known keys: {sorted(SPLIT_KEYS)}")
    index, fold = split_cfg.get("index"), split_cfg.get("fold")
    if index is not None and fold is not None and index != fold:
        raise CorpusConfigError(f"data.split: 'fold' is another name for 'index'; got index={index} and fold={fold}")
    args: dict[str, Any] = {"scheme": _required(split_cfg, "scheme")}
    if index is not None or fold is not None:
        args["index"] = int(index if index is not None else fold)
    if split_cfg.get("seed") is not None:
        args["seed"] = int(split_cfg["seed"])
    if split_cfg.get("ratios") is not None:
        args["ratios"] = tuple(float(r) for r in split_cfg["ratios"])
    args["valid_fraction"] = float(split_cfg.get("valid_fraction", ECPE_VALID_FRACTION))
    return args


def _check_max_documents(max_documents: Any) -> int | None:
    if max_documents is not None and (
        isinstance(max_documents, bool) or not isinstance(max_documents, int) or max_documents < 1
    ):
        raise CorpusConfigError(f"data.max_documents must be a positive integer or null, got {max_documents!r}")
    return max_documents


def _cap(split: Split, documents: list[Document], max_documents: int | None) -> tuple[Split, list[Document]]:
    """Keep the first ``max_documents`` ids of each part (split order); the corpus shrinks to what is kept."""
    if max_documents is None:
        return split, documents
    parts = {part: ids[:max_documents] for part, ids in split.parts.items()}
    kept = {doc_id for ids in parts.values() for doc_id in ids}
    note = f"max_documents={max_documents}: kept the first {max_documents} of each part (from {split.sizes})"
    capped = Split(split.name, parts, (*split.notes, note))
    return capped, [doc for doc in documents if doc.id in kept]
