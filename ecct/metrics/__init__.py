"""Metrics for emotion-cause-category triplets: span-level and word-level P/R/F1, error taxonomy, aggregation.

Inputs, per document: gold triplets (``Document.triplets`` as text triplets) and predicted text
triplets ``(emotion, cause, category)``, plus the parser's violations.

Normalisation (both sides alike). ``en``: strip, collapse whitespace runs to one space. ``zh``:
remove all whitespace. Categories compare case-insensitively. Nothing else is normalised: spans
must be copied verbatim, punctuation included.

Units. ``emotion`` (emotion span), ``cause`` (cause span), ``emotion_category`` (emotion span +
category), ``pair`` (emotion span + cause span), ``triplet`` (all three). Per document each side is
a *set* of unit instances: duplicates collapse (counted in ``duplicate_predictions``; the parser
already removes them), so gold emotions are the distinct emotion spans of the document.

Span level (exact). TP = |pred ∩ gold| per document; TP, FP, FN are summed over all documents
(micro average), then P = TP/(TP+FP), R = TP/(TP+FN), F1 = 2PR/(P+R).

Word level (overlap). Tokens are characters for ``zh`` and whitespace-separated words for ``en``.
For one predicted item p and one gold item g: zero unless their categories are equal (units
with a category) and every span of p shares a token with the same span of g; otherwise, with
o = |LCS(p span, g span)| (longest common subsequence of the token lists) per span,
    precision credit = Π_spans o / |p span|,   recall credit = Π_spans o / |g span|.
The product means a pair whose emotion matches exactly scores its cause overlap alone — the
SemEval-2024 ECAC "proportional" match (category exact, cause proportional). Within a document,
items that match exactly are paired first (credit 1 and 1); the remaining predicted and gold items
are matched one-to-one by the assignment that maximises the total of precision credit + recall
credit (Hungarian algorithm, exact). Summed over documents:
    P = Σ precision credit / #pred items,   R = Σ recall credit / #gold items,   F1 = 2PR/(P+R).
Pairing exact matches first means word-level scores are never below span-level ones.

Zero denominators. P = 0 when nothing is predicted, R = 0 when there is no gold, F1 = 0 when
P + R = 0: TP = 0 gives P = R = F1 = 0, also when both sides are empty.

Per category. Span-level triplet P/R/F1 restricted to one category, with its gold ``support`` and
``predicted`` counts.

Error taxonomy (``errors/pred/*`` and ``errors/gold/*``): each predicted and each gold triplet lands
in exactly one bucket, in order of precedence — see ``ecct.metrics.taxonomy.classify``.
``errors/format_violation`` counts the parser's violations other than ``not_verbatim`` (a
non-verbatim span is a hallucination, bucketed by checking the document text); every kind is also
counted under ``violations/<kind>``.

SemEval-2024 Task 3 Subtask 1 (``semeval/*``, ECF gold only): the official weighted-average F1 over the six
emotions, strict and proportional cause-span match in whitespace tokens — see ``ecct.metrics.semeval``.

Aggregation over folds or seeds: ``aggregate`` (mean, sample std, n) and ``format_mean_std``.

Significance: ``document_counts`` gives one document's span-level (tp, n_pred, n_gold), and
``ecct.metrics.bootstrap.paired_bootstrap`` resamples documents, paired between two systems, for an interval on
their micro-F1 difference.
"""

from ecct.metrics.aggregate import aggregate, format_mean_std
from ecct.metrics.compute import VIOLATION_KINDS, Prediction, PredictionLike, compute_metrics, document_counts
from ecct.metrics.scoring import UNITS
from ecct.metrics.table import format_details, format_table
from ecct.metrics.taxonomy import GOLD_BUCKETS, PRED_BUCKETS
from ecct.metrics.text import normalize, tokens

__all__ = [
    "GOLD_BUCKETS",
    "PRED_BUCKETS",
    "UNITS",
    "VIOLATION_KINDS",
    "Prediction",
    "PredictionLike",
    "aggregate",
    "compute_metrics",
    "document_counts",
    "format_details",
    "format_mean_std",
    "format_table",
    "normalize",
    "tokens",
]
