"""The paired bootstrap of a micro-F1 difference: pairing, pooling by document, and hand-checked numbers."""

from __future__ import annotations

import numpy as np
import pytest

from ecct.metrics import document_counts
from ecct.metrics.bootstrap import micro_f1, paired_bootstrap, pool, resampled_differences
from ecct.metrics.scoring import prf

HIT, MISS, SILENT = (1, 1, 1), (0, 1, 1), (0, 0, 1)  # (tp, n_pred, n_gold) of a one-triplet document


def test_identical_systems_differ_by_exactly_zero() -> None:
    run = {f"d{i}": counts for i, counts in enumerate([HIT, MISS, SILENT, (2, 3, 2), (0, 0, 0)])}
    result = paired_bootstrap({1: run, 2: run}, {1: dict(run), 2: dict(run)}, n_resamples=500, seed=3)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert not result.excludes_zero
    assert (result.n_documents, result.n_pairs, result.n_replicates, result.unpaired_documents) == (5, 10, 2, 0)


def test_a_system_better_on_every_document_has_an_interval_above_zero() -> None:
    better = {1: {f"d{i}": HIT for i in range(20)}}
    worse = {1: {f"d{i}": MISS if i % 2 else SILENT for i in range(20)}}
    result = paired_bootstrap(better, worse, n_resamples=1000, seed=0)
    assert result.difference == 1.0 and result.low == 1.0 and result.excludes_zero
    mixed = {1: {f"d{i}": HIT if i < 15 else MISS for i in range(20)}}
    assert 0 < paired_bootstrap(mixed, worse).low < paired_bootstrap(mixed, worse).high <= 1.0


def test_two_documents_by_hand_paired_resamples_take_three_values() -> None:
    """A hits d1 only, B hits d2 only. Paired resamples {d1,d1}, {d1,d2}, {d2,d2} give +1, 0, -1 (probabilities
    1/4, 1/2, 1/4); resampling the systems' documents independently would also give +-1/3 and +-2/3."""
    a = {"s": {"d1": HIT, "d2": SILENT}}
    b = {"s": {"d1": SILENT, "d2": HIT}}
    ours, theirs, *_ = pool(a, b)
    differences = resampled_differences(ours, theirs, n_resamples=4000, seed=7)
    values, counts = np.unique(np.round(differences, 12), return_counts=True)
    assert values.tolist() == [-1.0, 0.0, 1.0]
    assert counts / 4000 == pytest.approx([0.25, 0.5, 0.25], abs=0.03)
    result = paired_bootstrap(a, b, n_resamples=4000, seed=7)
    assert result.difference == 0.0  # both 2/3 on the observed pair: P = 1, R = 1/2
    assert (result.low, result.high) == (-1.0, 1.0) and not result.excludes_zero
    # The same seed gives the same resamples; the interval is their 2.5th-97.5th percentile.
    again = resampled_differences(ours, theirs, n_resamples=4000, seed=7)
    assert np.array_equal(differences, again)
    assert not np.array_equal(differences, resampled_differences(ours, theirs, n_resamples=4000, seed=8))


def test_a_small_interval_by_hand_with_a_fixed_rng() -> None:
    """Three documents, 5 resamples: the rows numpy draws, summed and scored by hand, give the interval."""
    a = {0: {"d0": (1, 1, 1), "d1": (1, 2, 1), "d2": (0, 0, 2)}}
    b = {0: {"d0": (0, 1, 1), "d1": (1, 1, 1), "d2": (1, 1, 2)}}
    rows = np.random.default_rng(11).integers(0, 3, size=(5, 3))  # what the bootstrap draws with seed 11
    by_doc_a = [(1, 1, 1), (1, 2, 1), (0, 0, 2)]
    by_doc_b = [(0, 1, 1), (1, 1, 1), (1, 1, 2)]
    expected = []
    for draw in rows:
        f1s = []
        for docs in (by_doc_a, by_doc_b):
            tp, n_pred, n_gold = (sum(docs[i][k] for i in draw) for k in range(3))
            f1s.append(prf(tp, n_pred, tp, n_gold)[2])
        expected.append(f1s[0] - f1s[1])
    result = paired_bootstrap(a, b, n_resamples=5, seed=11)
    assert result.low == pytest.approx(np.quantile(expected, 0.025))
    assert result.high == pytest.approx(np.quantile(expected, 0.975))
    # Observed: A tp 2, pred 3, gold 4 -> F1 4/7; B tp 2, pred 3, gold 4 -> 4/7.
    assert result.difference == pytest.approx(0.0)


def test_seeds_are_pooled_by_document_not_as_independent_draws() -> None:
    """Seed 1: A hits both documents, B none; seed 2 the other way round. A drawn document brings both seeds'
    counts, so every resample has A and B equal: the difference is exactly 0 (independent per-seed draws would
    vary)."""
    a = {1: {"d1": HIT, "d2": HIT}, 2: {"d1": MISS, "d2": MISS}}
    b = {1: {"d1": MISS, "d2": MISS}, 2: {"d1": HIT, "d2": HIT}}
    result = paired_bootstrap(a, b, n_resamples=300, seed=0)
    assert (result.difference, result.low, result.high) == (0.0, 0.0, 0.0)
    assert result.n_documents == 2 and result.n_pairs == 4


def test_unpaired_documents_and_replicates_are_left_out_and_counted() -> None:
    a = {1: {"d1": HIT, "d2": HIT}, 3: {"d1": HIT}}
    b = {1: {"d1": MISS, "d3": MISS}, 2: {"d1": MISS}}
    result = paired_bootstrap(a, b, n_resamples=50)
    assert (result.n_documents, result.n_replicates) == (1, 1)
    assert result.unpaired_documents == 4  # d2 and d3 in seed 1, seed 3's d1, seed 2's d1
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap(a, b, n_resamples=0)


def test_micro_f1_is_prf_and_document_counts_use_the_metrics_matcher() -> None:
    for tp, n_pred, n_gold in [(0, 0, 0), (0, 3, 0), (2, 3, 4), (5, 5, 5)]:
        assert float(micro_f1(tp, n_pred, n_gold)) == pytest.approx(prf(tp, n_pred, tp, n_gold)[2])
    gold = [("害怕", "门外有陌生人", "fear"), ("高兴", "考试通过了", "happiness")]
    predicted = [("害怕", "门外 有陌生人", "Fear"), ("高兴", "考试", "happiness"), ("害怕", "门外有陌生人", "fear")]
    assert document_counts(gold, predicted, "zh") == (1, 2, 2)  # zh drops spaces, categories any case, a set
    assert document_counts(gold, predicted, "zh", unit="emotion") == (2, 2, 2)
