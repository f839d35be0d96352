"""Document-level train/valid/test splits: the official ECPE folds, the 20 random 8:1:1 splits, ECF 1.0, random,
or ``all_test`` (every document in test: a file read only for prediction or evaluation).

Splits are always by document, never by emotion instance: several emotions of one Gui document share its text,
and splitting their lines apart would leak test text into training. Every unusual id is reported in
``Split.notes``; nothing is dropped or added silently.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ecct.data.model import Document
from ecct.data.paths import HOW_TO_OBTAIN, DataDirNotFound, resolve_data_dir

PARTS: tuple[str, ...] = ("train", "valid", "test")
SCHEMES: tuple[str, ...] = ("ecpe10", "split20", "ecf", "random", "all_test")

ECPE_FOLDS = 10
ECPE_FOLD_FILE = "gui2016_ecpe_nustm/fold{index}_test.txt"
SPLIT20_FILE = "gui2016_ecpe_splits_rankcp/split_doc_ids.derived.json"
ECF_SPLIT_FILES: dict[str, str] = {
    "train": "ecf1_mecpe_splits/train.txt",
    "valid": "ecf1_mecpe_splits/dev.txt",
    "test": "ecf1_mecpe_splits/test.txt",
}
# ECPE has no validation part; training needs one for checkpoint selection, so a seeded slice of each fold's
# training documents is held out (0 keeps the official, empty validation part).
ECPE_VALID_FRACTION = 0.1
MAX_LISTED_IDS = 10  # ids quoted in one note; the count is always complete


class SplitError(ValueError):
    """A split that cannot be built: bad scheme, index, ratios or split file (the message names the file)."""


@dataclass(frozen=True)
class Split:
    """Document ids per part (``train``, ``valid``, ``test``) plus notes on how unusual ids were handled."""

    name: str
    parts: dict[str, list[str]]
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if tuple(self.parts) != PARTS:
            raise SplitError(f"split {self.name}: parts must be {PARTS} in that order, got {tuple(self.parts)}")
        seen: dict[str, str] = {}
        for part, ids in self.parts.items():
            for doc_id in ids:
                if doc_id in seen:
                    where = "twice" if seen[doc_id] == part else f"in both {seen[doc_id]!r} and"
                    raise SplitError(f"split {self.name}: document {doc_id!r} is listed {where} {part!r}")
                seen[doc_id] = part

    @property
    def sizes(self) -> dict[str, int]:
        return {part: len(ids) for part, ids in self.parts.items()}

    def part_of(self, doc_id: str) -> str | None:
        """The part that holds ``doc_id``, or None when no part lists it."""
        return next((part for part, ids in self.parts.items() if doc_id in ids), None)


def make_split(
    documents: Sequence[Document],
    scheme: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    index: int = 1,
    seed: int = 42,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    valid_fraction: float = ECPE_VALID_FRACTION,
) -> Split:
    """Split ``documents`` by ``scheme`` (see the module docstring and ``SCHEMES``).

    ``index`` picks the ECPE fold (1..10) or the split20 split (1..20); ``seed`` drives the random scheme and the
    validation slice carved from ECPE training folds (``valid_fraction`` of them); ``ratios`` are the random
    scheme's train/valid/test proportions. ``data_dir`` locates the split files (see ``resolve_data_dir``).
    """
    by_id = _index_documents(documents)
    if scheme == "all_test":
        parts = {"train": [], "valid": [], "test": [doc.id for doc in documents]}
        return Split("all_test", parts, ("all_test: every document in test, in corpus order (nothing to train on)",))
    if scheme == "random":
        return _random_split(documents, seed=seed, ratios=ratios)
    if scheme == "ecpe10":
        return _ecpe10_split(documents, by_id, data_dir, index=index, seed=seed, valid_fraction=valid_fraction)
    if scheme == "split20":
        return _split20_split(documents, by_id, data_dir, index=index)
    if scheme == "ecf":
        listed = {
            part: _read_block_headers(_split_file(rel, data_dir, scheme)) for part, rel in ECF_SPLIT_FILES.items()
        }
        return _listed_split("ecf", documents, by_id, listed, origin="ecf1_mecpe_splits/{train,dev,test}.txt")
    raise SplitError(f"unknown split scheme {scheme!r}; expected one of {SCHEMES}")


# ----------------------------------------------------------------------------------------------------- schemes


def _ecpe10_split(
    documents: Sequence[Document],
    by_id: Mapping[str, Document],
    data_dir: str | os.PathLike[str] | None,
    *,
    index: int,
    seed: int,
    valid_fraction: float,
) -> Split:
    _check_index("ecpe10", index, ECPE_FOLDS, ECPE_FOLD_FILE.format(index="{1..10}"))
    if not 0 <= valid_fraction < 1:
        raise SplitError(f"ecpe10: valid_fraction must be in [0, 1), got {valid_fraction}")
    # All ten test files are read, not only this fold's: a document that no fold tests is then known to be
    # outside ECPE (and goes to train), and an id listed by two folds is caught.
    folds = {
        k: _read_block_headers(_split_file(ECPE_FOLD_FILE.format(index=k), data_dir, "ecpe10"))
        for k in range(1, ECPE_FOLDS + 1)
    }
    test_ids = folds[index]
    # The training part is derived (every other fold), so it follows the corpus order; the test part keeps the
    # order of its fold file.
    order = {doc.id: i for i, doc in enumerate(documents)}
    train_ids = sorted(
        (doc_id for k, ids in folds.items() if k != index for doc_id in ids),
        key=lambda doc_id: order.get(doc_id, len(order)),
    )
    split = _listed_split(
        f"ecpe10-{index}",
        documents,
        by_id,
        {"train": train_ids, "valid": [], "test": test_ids},
        origin=ECPE_FOLD_FILE.format(index="{1..10}"),
    )
    if valid_fraction == 0:
        return Split(split.name, split.parts, (*split.notes, "valid: empty, as in the official ECPE split"))
    # Carve only from documents ECPE itself trains on; the unlisted extras stay in train (see _listed_split).
    extras = set(_unlisted(documents, {"train": train_ids, "test": test_ids}))
    official_train = [doc_id for doc_id in split.parts["train"] if doc_id not in extras]
    texts = {doc_id: by_id[doc_id].text for doc_id in official_train}
    n_valid = round(len(official_train) * valid_fraction)
    valid = set(_take_groups(official_train, texts, n_valid, random.Random(seed)))
    parts = {
        "train": [doc_id for doc_id in split.parts["train"] if doc_id not in valid],
        "valid": [doc_id for doc_id in split.parts["train"] if doc_id in valid],
        "test": split.parts["test"],
    }
    note = (
        f"valid: {len(valid)} documents ({valid_fraction:.0%}) of the fold's ECPE training documents, drawn with "
        f"seed {seed}; the official ECPE split has no validation part"
    )
    return Split(split.name, parts, (*split.notes, note))


def _split20_split(
    documents: Sequence[Document],
    by_id: Mapping[str, Document],
    data_dir: str | os.PathLike[str] | None,
    *,
    index: int,
) -> Split:
    path = _split_file(SPLIT20_FILE, data_dir, "split20")
    try:
        splits = json.loads(path.read_text(encoding="utf-8"))["split20"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise SplitError(f"{path}: not a split-id file with a 'split20' object ({err})") from err
    _check_index("split20", index, len(splits), f"{path} has folds fold1..fold{len(splits)}")
    fold = splits.get(f"fold{index}")
    if not isinstance(fold, dict) or set(fold) != set(PARTS):
        raise SplitError(f"{path}: split20.fold{index} must be an object with lists {PARTS}, got {fold!r:.80}")
    listed = {part: [str(doc_id) for doc_id in fold[part]] for part in PARTS}
    return _listed_split(f"split20-{index}", documents, by_id, listed, origin=f"{SPLIT20_FILE} (split20.fold{index})")


def _random_split(documents: Sequence[Document], *, seed: int, ratios: Sequence[float]) -> Split:
    fractions = _check_ratios(ratios)
    ids = [doc.id for doc in documents]
    texts = {doc.id: doc.text for doc in documents}
    n = len(ids)
    sizes = {part: round(n * fraction) for part, fraction in zip(PARTS, fractions, strict=True)}
    for part, fraction in zip(PARTS[1:], fractions[1:], strict=True):
        # Tiny corpora: a part with a positive ratio keeps at least one document while train keeps one too.
        if fraction > 0 and sizes[part] == 0 and n - sizes["valid"] - sizes["test"] > 1:
            sizes[part] = 1
    rng = random.Random(seed)
    test = set(_take_groups(ids, texts, sizes["test"], rng))
    rest = [doc_id for doc_id in ids if doc_id not in test]
    valid = set(_take_groups(rest, texts, sizes["valid"], rng))
    parts = {
        "train": [doc_id for doc_id in rest if doc_id not in valid],
        "valid": [doc_id for doc_id in rest if doc_id in valid],
        "test": [doc_id for doc_id in ids if doc_id in test],
    }
    notes = [f"random: seed {seed}, ratios {tuple(fractions)}; each part in corpus order"]
    duplicated = n - len(set(texts.values()))
    if duplicated:
        notes.append(f"{duplicated} documents repeat another document's text; identical texts share one part")
    return Split(f"random-seed{seed}", parts, tuple(notes))


# ----------------------------------------------------------------------------------- listed ids -> documents


def _listed_split(
    name: str,
    documents: Sequence[Document],
    by_id: Mapping[str, Document],
    listed: Mapping[str, list[str]],
    *,
    origin: str,
) -> Split:
    """Map a split file's ids onto the corpus, reporting every id that does not map one-to-one.

    Rules (the same for every file-based scheme):
    - an id listed twice, or in two parts, is an error (it would leak a document);
    - an id that is an *instance* id merged into another document (``meta["instance_ids"]``) is ignored: its
      document is placed by its own id. This is ECPE's doc 1807: in ``datacsv_2105.csv`` line 1807 repeats line
      1070 verbatim (same text, emotion and cause), so the span-level corpus has no document 1807, only document
      1070 (instances 1070 and 1807). ECPE fold 9 still lists 1807 while fold 6 tests 1070; mapping 1807 onto 1070
      would test that document twice and put it in two parts of fold 9's complement, so the listing is dropped;
    - an id of no corpus document is ignored and counted;
    - a corpus document no part lists goes to train, so it is trained on but never evaluated and every test part
      equals the official one. In the Gui corpus these are documents 1566 and 1840, which ECPE left out.
    Parts keep the order of ``listed``; the added documents come last, in corpus order.
    """
    owner = _instance_owners(documents)
    notes: list[str] = []
    seen: dict[str, str] = {}
    parts: dict[str, list[str]] = {part: [] for part in PARTS}
    aliases: list[tuple[str, str, str]] = []
    missing: dict[str, list[str]] = {part: [] for part in PARTS}
    for part in PARTS:
        for doc_id in listed.get(part, []):
            if doc_id in seen:
                where = "twice in" if seen[doc_id] == part else f"in both {seen[doc_id]!r} and"
                raise SplitError(f"{origin}: id {doc_id} is listed {where} {part!r}")
            seen[doc_id] = part
            if doc_id in by_id:
                parts[part].append(doc_id)
            elif doc_id in owner:
                aliases.append((doc_id, part, owner[doc_id]))
            else:
                missing[part].append(doc_id)
    unlisted = _unlisted(documents, listed)
    parts["train"].extend(unlisted)
    final = Split(name, parts)
    for doc_id, part, document_id in aliases:
        notes.append(
            f"id {doc_id} ({part} in {origin}) is not a document: it is an instance merged into document "
            f"{document_id} (identical text); ignored, and document {document_id} stays in "
            f"{final.part_of(document_id) or 'no part'} of this split"
        )
    for part, ids in missing.items():
        if ids:
            notes.append(f"{len(ids)} {part} id(s) of {origin} are not in the corpus, ignored: {_quote(ids)}")
    if unlisted:
        notes.append(
            f"{len(unlisted)} corpus document(s) that {origin} does not list were added to train "
            f"(trained on, never evaluated): {_quote(unlisted)}"
        )
    notes.extend(_shared_text_notes(final, by_id))
    return Split(name, final.parts, tuple(notes))


def _unlisted(documents: Sequence[Document], listed: Mapping[str, Iterable[str]]) -> list[str]:
    listed_ids = {doc_id for ids in listed.values() for doc_id in ids}
    return [doc.id for doc in documents if doc.id not in listed_ids]


def _instance_owners(documents: Sequence[Document]) -> dict[str, str]:
    """Instance id -> id of the document it was merged into, for instances that are not document ids."""
    return {
        str(instance): doc.id
        for doc in documents
        for instance in doc.meta.get("instance_ids", ())
        if str(instance) != doc.id
    }


def _shared_text_notes(split: Split, by_id: Mapping[str, Document]) -> list[str]:
    """A fixed split cannot be repaired without leaving the official one, but a text in two parts is reported."""
    part_of_text: dict[str, str] = {}
    shared: list[str] = []
    for part, ids in split.parts.items():
        for doc_id in ids:
            text = by_id[doc_id].text
            if part_of_text.setdefault(text, part) != part:
                shared.append(doc_id)
    if not shared:
        return []
    return [f"WARNING: {len(shared)} document(s) repeat the text of a document in another part: {_quote(shared)}"]


# ------------------------------------------------------------------------------------------------- helpers


def _index_documents(documents: Sequence[Document]) -> dict[str, Document]:
    by_id: dict[str, Document] = {}
    for doc in documents:
        if doc.id in by_id:
            raise SplitError(f"document id {doc.id!r} occurs twice in the corpus; ids must be unique to split by id")
        by_id[doc.id] = doc
    return by_id


def _take_groups(ids: Sequence[str], texts: Mapping[str, str], target: int, rng: random.Random) -> list[str]:
    """About ``target`` ids drawn at random, keeping documents with identical text together."""
    groups: dict[str, list[str]] = {}
    for doc_id in ids:
        groups.setdefault(texts[doc_id], []).append(doc_id)
    order = list(groups.values())
    rng.shuffle(order)
    taken: list[str] = []
    for group in order:
        if len(taken) >= target:
            break
        taken.extend(group)
    return taken


def _check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(r) for r in ratios)
    if len(values) != 3 or any(r < 0 for r in values) or values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise SplitError(
            f"random split ratios must be three non-negative numbers (train, valid, test) with train > 0 "
            f"summing to 1, got {tuple(ratios)}"
        )
    return values  # type: ignore[return-value]


def _check_index(scheme: str, index: int, count: int, files: str) -> None:
    if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= count:
        raise SplitError(f"{scheme}: index must be an integer in 1..{count} ({files}), got {index!r}")


def _split_file(relative: str, data_dir: str | os.PathLike[str] | None, scheme: str) -> Path:
    path = resolve_data_dir(data_dir) / relative
    if not path.is_file():
        raise DataDirNotFound(f"split {scheme}: split file {path} does not exist. {HOW_TO_OBTAIN}")
    return path


def _read_block_headers(path: Path) -> list[str]:
    """The ids of a block file (ECPE folds, ECF 1.0 splits).

    Each block is a header ``id count``, one line of (emotion, cause) pairs, then ``count`` clause/utterance lines.
    The structure is followed line by line rather than matching "two numbers" so a clause line can never be
    mistaken for a header.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    ids: list[str] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        header = lines[i].split()
        if len(header) != 2 or not all(field.isdigit() for field in header):
            raise SplitError(f"{path}:{i + 1}: expected a header line 'id count', got {lines[i][:60]!r}")
        ids.append(header[0])
        i += 2 + int(header[1])  # header, pairs line, then the block's lines
        if i > len(lines):
            raise SplitError(f"{path}:{len(lines)}: block of id {header[0]} ends early (expected {header[1]} lines)")
    return ids


def _quote(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED_IDS])
    return shown + (f", ... ({len(ids) - MAX_LISTED_IDS} more)" if len(ids) > MAX_LISTED_IDS else "")
