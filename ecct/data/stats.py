"""Corpus statistics: documents, emotions, triplets, categories and span lengths, overall and per split part."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ecct.data.corpus import Corpus
from ecct.data.model import CATEGORIES, Document
from ecct.data.splits import PARTS


@dataclass(frozen=True)
class LengthStats:
    """Mean / median / max length in characters (zeros for no spans)."""

    count: int
    mean: float
    median: float
    max: int

    @classmethod
    def of(cls, lengths: Sequence[int]) -> LengthStats:
        if not lengths:
            return cls(0, 0.0, 0.0, 0)
        return cls(len(lengths), statistics.fmean(lengths), float(statistics.median(lengths)), max(lengths))

    def __str__(self) -> str:
        return f"{self.mean:.1f} / {self.median:g} / {self.max}"


@dataclass(frozen=True)
class PartStats:
    """Counts for one set of documents.

    ``emotions`` counts distinct (emotion span, category) pairs per document; span lengths are over distinct
    emotion spans and distinct cause spans per document, so a cause shared by two emotions is measured once.
    ``source_pairs`` counts the emotion-cause annotations of the source file before identical triplets of one
    document were merged (see ``source_pairs``), so it can be compared with published corpus counts.
    """

    documents: int
    empty_documents: int
    emotions: int
    triplets: int
    source_pairs: int
    categories: dict[str, int]
    emotion_length: LengthStats
    cause_length: LengthStats

    @classmethod
    def of(cls, documents: Sequence[Document]) -> PartStats:
        categories = Counter(t.category for doc in documents for t in doc.triplets)
        emotion_lengths = [len(span.text) for doc in documents for span, _ in doc.emotions]
        cause_lengths = [len(span.text) for doc in documents for span in {t.cause for t in doc.triplets}]
        return cls(
            documents=len(documents),
            empty_documents=sum(1 for doc in documents if not doc.triplets),
            emotions=sum(len(doc.emotions) for doc in documents),
            triplets=sum(len(doc.triplets) for doc in documents),
            source_pairs=sum(source_pairs(doc) for doc in documents),
            categories={category: categories.get(category, 0) for category in CATEGORIES},
            emotion_length=LengthStats.of(emotion_lengths),
            cause_length=LengthStats.of(cause_lengths),
        )


def source_pairs(document: Document) -> int:
    """Emotion-cause annotations in the source, duplicates included, from what the readers keep in ``meta``.

    The Gui CSV repeats some instances verbatim (e.g. line 1807 repeats line 1070), and ECF lists some pairs twice;
    readers merge those into one triplet. Documents without such meta count their triplets.
    """
    if "instances" in document.meta:  # Gui CSV: one instance per emotion line, each with its causes
        return sum(len(instance.get("causes", ())) for instance in document.meta["instances"])
    if "pairs" in document.meta:  # ECF: one entry per listed emotion-cause pair
        return len(document.meta["pairs"])
    return len(document.triplets)


def corpus_stats(corpus: Corpus) -> dict[str, PartStats]:
    """Statistics of the whole corpus (``"all"``) and of each split part."""
    return {"all": PartStats.of(corpus.documents)} | {part: PartStats.of(corpus.part(part)) for part in PARTS}


def format_stats(corpus: Corpus) -> str:
    """A plain-text report: the table, the split's notes and the reader's skip report."""
    stats = corpus_stats(corpus)
    rows: list[tuple[str, ...]] = [
        ("documents", *(f"{s.documents:,}" for s in stats.values())),
        ("  without triplets", *(f"{s.empty_documents:,}" for s in stats.values())),
        ("emotions", *(f"{s.emotions:,}" for s in stats.values())),
        ("triplets", *(f"{s.triplets:,}" for s in stats.values())),
        ("source pairs (before dedup)", *(f"{s.source_pairs:,}" for s in stats.values())),
        *(
            (f"triplets {category}", *(f"{s.categories[category]:,}" for s in stats.values()))
            for category in CATEGORIES
        ),
        ("emotion span mean/med/max", *(str(s.emotion_length) for s in stats.values())),
        ("cause span mean/med/max", *(str(s.cause_length) for s in stats.values())),
    ]
    header = ("", *stats)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        f"corpus {corpus.name} ({corpus.path}), split {corpus.split.name}; span lengths in characters",
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(header)),
    ]
    lines += [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    ]
    if corpus.split.notes:
        lines.append("split notes:")
        lines += [f"  - {note}" for note in corpus.split.notes]
    lines.append(str(corpus.skipped))
    return "\n".join(lines)
