"""Filters for generated rewrites: a candidate becomes a validated ``Document`` or is rejected with one reason.

Model outputs are untrusted input. The checks run in a fixed order and the first failure names the reason, so
the reasons of a run add up to its rejections:

``empty output`` · ``broken characters`` · ``echo of source`` · ``echo of prompt`` · ``malformed marker`` ·
``marker missing`` · ``marker text changed`` · ``marker repeated`` · ``extra marker`` · ``invalid offsets`` ·
``too short`` · ``too long`` · ``wrong language`` · ``repetitive`` · ``near-duplicate of source`` ·
``near-duplicate of another augmentation``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecct.augment.marking import MarkedDocument, Marker, MarkerFormat, rebuild_document, strip_markers
from ecct.data.errors import DataError
from ecct.data.model import Document

REASONS: tuple[str, ...] = (
    "empty output",
    "broken characters",
    "echo of source",
    "echo of prompt",
    "malformed marker",
    "marker missing",
    "marker text changed",
    "marker repeated",
    "extra marker",
    "invalid offsets",
    "too short",
    "too long",
    "wrong language",
    "repetitive",
    "near-duplicate of source",
    "near-duplicate of another augmentation",
)


class Rejected(ValueError):
    """A candidate that failed a filter; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, detail: str):
        assert reason in REASONS, reason
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class FilterConfig:
    min_length_ratio: float = 0.5  # plain augmented length / source length
    max_length_ratio: float = 2.0
    ngram: int = 3  # character n-grams for the near-duplicate checks
    max_source_similarity: float = 0.6  # Jaccard with the source text; above it, a near-copy
    max_pair_similarity: float = 0.7  # Jaccard with an already accepted augmentation
    min_language_share: float = 0.8  # zh: CJK share of letters; en: ASCII share of letters
    # Share of distinct character 4-grams below which a text is a repetition loop. Gui 2016 training documents:
    # min 0.815, 1st percentile 0.93; small models' loops ("爱爱爱爱...") score 0.05-0.72.
    min_distinct_4gram_share: float = 0.8
    # An echo is a copy of this many (non-space) characters of a prompt piece, or of a whole shorter piece: small
    # models copy the worked example's opening and go on with their own text.
    echo_window: int = 16
    # Words (2+ letters) outside the document's script that its source does not contain, allowed per rewrite:
    # Gemma 3 270M leaves chat-turn debris ("user", "model") and other scripts in otherwise Chinese text, which a
    # share-of-letters threshold lets through in a long text.
    max_foreign_words: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.min_length_ratio <= 1 <= self.max_length_ratio:
            raise ValueError("augment.filters: need 0 < min_length_ratio <= 1 <= max_length_ratio")
        if self.ngram < 1:
            raise ValueError("augment.filters.ngram must be >= 1")
        if self.max_foreign_words < 0:
            raise ValueError("augment.filters.max_foreign_words must be >= 0")
        if self.echo_window < 4:
            raise ValueError("augment.filters.echo_window must be >= 4 characters")
        for name in ("max_source_similarity", "max_pair_similarity", "min_language_share", "min_distinct_4gram_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"augment.filters.{name} must be in [0, 1]")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> FilterConfig:
        return cls(**dict(cfg or {}))


def char_ngrams(text: str, n: int) -> frozenset[str]:
    compact = "".join(text.split())
    if len(compact) < n:
        return frozenset([compact]) if compact else frozenset()
    return frozenset(compact[i : i + n] for i in range(len(compact) - n + 1))


def distinct_share(text: str, n: int = 4) -> float:
    """Distinct character n-grams over all of them (spaces ignored); 1.0 for a text without repeats."""
    total = len(_normalised(text)) - n + 1
    return len(char_ngrams(text, n)) / total if total > 0 else 1.0


def echoed_piece(text: str, pieces: Sequence[str], window: int) -> str | None:
    """The first prompt piece ``text`` copies ``window`` characters of (or all of, if shorter), else None."""
    compact = _normalised(text)
    for piece in pieces:
        fragment = _normalised(piece)
        if not fragment:
            continue
        if len(fragment) <= window:
            if fragment in compact:
                return piece
        elif any(fragment[i : i + window] in compact for i in range(len(fragment) - window + 1)):
            return piece
    return None


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def is_cjk(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf" or "\uf900" <= char <= "\ufaff"


def in_script(language: str) -> Callable[[str], bool]:
    """Whether a letter belongs to ``language``'s script: CJK ideographs for zh, ASCII letters otherwise."""
    return is_cjk if language == "zh" else str.isascii


def language_share(text: str, language: str) -> float:
    """Share of the letters of ``text`` that belong to ``language``'s script."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    native = in_script(language)
    return sum(map(native, letters)) / len(letters)


def foreign_words(text: str, language: str, source: str) -> list[str]:
    """Runs of 2+ letters outside ``language``'s script that ``source`` does not contain."""
    native = in_script(language)
    runs: list[str] = []
    current: list[str] = []
    for char in text + " ":
        if char.isalpha() and not native(char):
            current.append(char)
            continue
        if len(current) >= 2:
            runs.append("".join(current))
        current = []
    return [run for run in runs if run not in source]


class NearDuplicateIndex:
    """Accepted texts' n-gram sets with an inverted index, so each lookup only scores texts sharing an n-gram."""

    def __init__(self, n: int):
        self.n = n
        self._sets: list[frozenset[str]] = []
        self._postings: dict[str, list[int]] = {}

    def most_similar(self, grams: frozenset[str]) -> float:
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._postings.get(gram, ()))
        return max((common / (len(grams) + len(self._sets[i]) - common) for i, common in shared.items()), default=0.0)

    def add(self, grams: frozenset[str]) -> None:
        index = len(self._sets)
        self._sets.append(grams)
        for gram in grams:
            self._postings.setdefault(gram, []).append(index)


def _compare_markers(expected: Sequence[Marker], found: Sequence[Marker]) -> None:
    """Every source marker exactly once with identical text; nothing else."""
    want = Counter(expected)
    got = Counter(found)
    missing = want - got
    surplus = got - want
    if not missing and not surplus:
        return
    repeated = [m for m in surplus if m in want]
    if missing:
        # A missing marker whose (role, number) shows up with other text was copied, but not verbatim.
        changed = [m for m in missing if any((s.role, s.number) == (m.role, m.number) for s in surplus)]
        if changed:
            m = changed[0]
            other = next(s.text for s in surplus if (s.role, s.number) == (m.role, m.number))
            raise Rejected("marker text changed", f"{m.role} {m.number}: {m.text!r} became {other!r}")
        m = next(iter(missing))
        raise Rejected("marker missing", f"{m.role} {m.number} {m.text!r}")
    if repeated:
        m = repeated[0]
        raise Rejected("marker repeated", f"{m.role} {m.number} {m.text!r} appears {got[m]} times")
    m = next(iter(surplus))
    raise Rejected("extra marker", f"{m.role} {m.number} {m.text!r} is not in the source")


def _normalised(text: str) -> str:
    return "".join(text.split())


def check_candidate(
    marked: MarkedDocument,
    output: str,
    *,
    fmt: MarkerFormat,
    cfg: FilterConfig,
    echo_fragments: Sequence[str],
    doc_id: str,
    meta: Mapping[str, Any],
    accepted: NearDuplicateIndex | None = None,
) -> Document:
    """The augmented document for ``output``, or ``Rejected``. Adds it to ``accepted`` when it passes."""
    # A sample that ran out of tokens can stop inside a character: its last bytes decode to U+FFFD. Drop them.
    text = output.strip().rstrip("\ufffd").rstrip()
    if not text:
        raise Rejected("empty output", "the model returned nothing")
    if "\ufffd" in text:
        raise Rejected("broken characters", f"undecodable bytes at character {text.index(chr(0xFFFD))}")
    if _normalised(text) == _normalised(marked.text):
        raise Rejected("echo of source", "identical to the marked source")
    echoed = echoed_piece(text, echo_fragments, cfg.echo_window)
    if echoed is not None:
        raise Rejected("echo of prompt", f"copies the prompt ({echoed[:40]!r})")
    parsed = strip_markers(text, fmt)
    if parsed.fragments:
        raise Rejected("malformed marker", f"stray marker piece {parsed.fragments[0]!r}")
    _compare_markers(marked.markers, [m for m, _ in parsed.found])
    try:
        doc = rebuild_document(marked, parsed, doc_id, meta)
    except DataError as err:
        raise Rejected("invalid offsets", str(err)) from err
    ratio = len(doc.text) / max(len(marked.source.text), 1)
    if ratio < cfg.min_length_ratio:
        raise Rejected("too short", f"{ratio:.2f} x the source length")
    if ratio > cfg.max_length_ratio:
        raise Rejected("too long", f"{ratio:.2f} x the source length")
    share = language_share(doc.text, doc.language)
    if share < cfg.min_language_share:
        raise Rejected("wrong language", f"only {share:.0%} of the letters are {doc.language}")
    foreign = foreign_words(doc.text, doc.language, marked.source.text)
    if len(foreign) > cfg.max_foreign_words:
        raise Rejected("wrong language", f"words in another script: {', '.join(foreign[:5])}")
    distinct = distinct_share(doc.text)
    if distinct < cfg.min_distinct_4gram_share:
        raise Rejected("repetitive", f"only {distinct:.0%} of its character 4-grams are distinct")
    grams = char_ngrams(doc.text, cfg.ngram)
    similarity = jaccard(grams, char_ngrams(marked.source.text, cfg.ngram))
    if similarity > cfg.max_source_similarity:
        raise Rejected("near-duplicate of source", f"{cfg.ngram}-gram Jaccard {similarity:.2f}")
    if accepted is not None:
        similarity = accepted.most_similar(grams)
        if similarity > cfg.max_pair_similarity:
            raise Rejected("near-duplicate of another augmentation", f"{cfg.ngram}-gram Jaccard {similarity:.2f}")
        accepted.add(grams)
    return doc
