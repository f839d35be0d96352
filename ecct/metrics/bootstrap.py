"""Paired bootstrap of a micro-F1 difference between two systems tested on the same documents.

Why paired and by document: two sweep levels are tested on the same test documents, and documents differ far
more in difficulty than the levels do; resampling the *same* documents for both systems cancels that variation,
and resampling documents (not triplets) keeps a document's triplets together, as its errors are correlated.

Input: for each replicate (a seed or a fold) and each document, the span-level counts ``(tp, n_pred, n_gold)`` of
each system. Pooling: a document is the unit resampled; a drawn document brings its counts from every replicate
in which both systems were tested on it (with seeds on one split, all of them; with folds, its own fold), summed.
So replicates are pooled, not treated as independent draws of one document, and the F1 of a resample is the
micro F1 over all the (document, replicate) counts it contains: ``2 tp / (n_pred + n_gold)``, 0 when ``tp`` is 0
(exactly ``ecct.metrics.scoring.prf``). The interval is the percentile interval (linear interpolation, numpy's
default) of ``F1(system) - F1(reference)`` over ``n_resamples`` resamples drawn with ``numpy.random.default_rng
(seed)``; the point estimate is the same difference on the documents as observed.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

Counts = tuple[int, int, int]  # (tp, n_pred, n_gold) of one document
RunCounts = Mapping[str, Counts]  # document id -> counts, one run


@dataclass(frozen=True)
class PairedBootstrap:
    difference: float  # micro F1(system) - micro F1(reference) on the observed pooled documents
    low: float
    high: float
    n_documents: int  # distinct documents resampled
    n_pairs: int  # (document, replicate) pairs pooled
    n_replicates: int  # replicates both systems have
    unpaired_documents: int  # (document, replicate) counts of one system only: left out
    n_resamples: int
    seed: int
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def micro_f1(tp: np.ndarray, n_pred: np.ndarray, n_gold: np.ndarray) -> np.ndarray:
    """Micro F1 = 2PR/(P+R) = 2 tp / (n_pred + n_gold); 0 where tp is 0 (also for empty denominators)."""
    tp = np.asarray(tp, dtype=float)
    denominator = np.asarray(n_pred, dtype=float) + np.asarray(n_gold, dtype=float)
    return np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=tp > 0)


def pool(
    system: Mapping[Hashable, RunCounts], reference: Mapping[Hashable, RunCounts]
) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """Per distinct document, the counts of each system summed over the replicates both have it in.

    Returns ``(system counts, reference counts, n_pairs, n_replicates, unpaired)``: arrays of shape (documents, 3)
    in sorted document order.
    """
    summed: dict[str, list[int]] = {}
    pairs = unpaired = 0
    replicates = [r for r in system if r in reference]
    unpaired += sum(len(system[r]) for r in system if r not in reference)
    unpaired += sum(len(reference[r]) for r in reference if r not in system)
    for replicate in replicates:
        ours, theirs = system[replicate], reference[replicate]
        unpaired += len(ours.keys() ^ theirs.keys())
        for doc_id in ours.keys() & theirs.keys():
            row = summed.setdefault(str(doc_id), [0] * 6)
            for i, value in enumerate((*ours[doc_id], *theirs[doc_id])):
                row[i] += int(value)
            pairs += 1
    rows = np.array([summed[d] for d in sorted(summed)], dtype=np.int64).reshape(-1, 6)
    return rows[:, :3], rows[:, 3:], pairs, len(replicates), unpaired


def resampled_differences(system: np.ndarray, reference: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """F1(system) - F1(reference) for ``n_resamples`` resamples of the rows, the same rows for both systems."""
    n = len(system)
    if n == 0:
        return np.zeros(0)
    rows = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    ours, theirs = system[rows].sum(axis=1), reference[rows].sum(axis=1)  # (resamples, 3)
    return micro_f1(*ours.T) - micro_f1(*theirs.T)


def paired_bootstrap(
    system: Mapping[Hashable, RunCounts],
    reference: Mapping[Hashable, RunCounts],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedBootstrap:
    """The pooled micro-F1 difference of ``system`` over ``reference`` and its paired percentile interval.

    ``system`` and ``reference`` map a replicate (seed, fold) to per-document counts; see the module docstring.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples={n_resamples}: expected at least 1")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence}: expected a share in (0, 1)")
    ours, theirs, pairs, replicates, unpaired = pool(system, reference)
    observed = float((micro_f1(*ours.sum(axis=0)) - micro_f1(*theirs.sum(axis=0))).item()) if len(ours) else 0.0
    differences = resampled_differences(ours, theirs, n_resamples, seed)
    tail = (1 - confidence) / 2
    low, high = (float(x) for x in np.quantile(differences, [tail, 1 - tail])) if len(ours) else (0.0, 0.0)
    return PairedBootstrap(observed, low, high, len(ours), pairs, replicates, unpaired, n_resamples, seed, confidence)
