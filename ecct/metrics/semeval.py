"""SemEval-2024 Task 3 (ECAC) Subtask 1 official metric: weighted-average F1, strict and proportional.

Mirrors ``CodaLab/evaluation/evaluate.py`` of github.com/NUSTM/SemEval-2024_ECAC (HEAD ``f605436``); each
function names the one it reproduces. The script's inputs are rows ``[conversation, emotion utterance id, cause
utterance id, start, end, emotion]``, ``[start, end)`` whitespace-token indexes into the cause utterance.

- Gold (``evaluate_1_2`` / ``get_new_pair_list``): a cause text is cleaned (``clean_span``: leading and trailing
  ``string.punctuation`` and whitespace removed) and placed at its *first* whitespace-token occurrence in its
  utterance (``get_span_position``; ``[0, 0]`` when absent). Identical rows of a conversation collapse.
- Strict (``cal_prf_span_pair_emocate``): a predicted row is correct when an unused gold row has the same five
  elements. Per emotion j: P = correct / predicted, R = correct / gold, F1 = 2PR/(P+R), each denominator + 1e-8.
- Proportional (``cal_prf_span_pair_emocate_proportional``): a predicted span is compared with *every* gold span
  of its (conversation, emotion utterance, cause utterance) key and emotion; it matches the one with the highest
  overlap / gold length (ties: longer overlap, then first). Per emotion: correct = Σ overlap tokens, predicted =
  Σ predicted lengths, gold = Σ matched gold lengths (once per matching prediction) + Σ lengths of gold spans no
  prediction matched.
- The ranking score is Σ_j w_j F1_j over the six emotions, w_j = share of gold rows with emotion j (neutral, the
  7th class, is left out); micro P/R/F1 are reported as well.

ecct inputs (``semeval_metrics``, which ``compute_metrics`` adds for ECF gold: ``is_ecf_corpus``). Gold rows come
from ``Document.triplets`` and ``meta["utterances"]`` exactly as the script makes them from the original pairs
(``document_pairs``). Predicted text triplets become rows as a participant would submit them
(``prediction_pairs``): the emotion utterance is the first one whose text equals the emotion span (ECF's
emotion span is the whole utterance), else the one holding the span; the cause is located by its offsets, else at
its occurrence nearest the emotion utterance (the parser's rule), and its cleaned text is placed like gold text.
By text alone, an emotion utterance whose text repeats in its conversation can land on the wrong copy.

Deviations, all on input the script refuses or divides by zero on: no gold row gives 0.0 (the script: nan); a
gold conversation without a prediction counts as empty in ``semeval_metrics`` (``evaluate_subtask1`` refuses it,
as the script does). ``document_pairs`` lists a key's gold spans in ``Document`` (text) order, the script in file
order: that only decides which of two equally good gold spans (same length, same overlap) a tie goes to.
"""

from __future__ import annotations

import bisect
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecct.data.model import Document, find_span
from ecct.data.readers.ecf import CATEGORY_OF_LABEL
from ecct.data.readers.ecf import SOURCE as ECF_SOURCE
from ecct.metrics.text import normalize

LABELS: tuple[str, ...] = ("neutral", "anger", "disgust", "fear", "joy", "sadness", "surprise")  # emotion_idx
LABEL_OF_CATEGORY: dict[str, str] = {category: label for label, category in CATEGORY_OF_LABEL.items()}
MODES: tuple[str, ...] = ("strict", "proportional")
EPS = 1e-8  # the script's smoothing term, kept so that the numbers agree to the last digits


@dataclass(frozen=True)
class SpanPair:
    """One row of the script: cause tokens ``[start, end)`` of utterance ``cause`` for utterance ``emotion``.

    ``unplaced`` holds the text of a prediction that names no utterance of its document (utterance ids 0, which
    no gold row has): it counts as predicted and never matches.
    """

    conversation: str
    emotion: int
    cause: int
    start: int
    end: int
    label: str
    unplaced: str = ""

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.conversation, self.emotion, self.cause)

    @property
    def span(self) -> tuple[int, int, int]:
        return (self.start, self.end, LABELS.index(self.label))


@dataclass(frozen=True)
class Scores:
    """What the script reports for one mode, plus the per-emotion F1 it averages (keyed by ECF label)."""

    w_avg_precision: float
    w_avg_recall: float
    w_avg_f1: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    f1: dict[str, float]


# ---- the script's span helpers ----------------------------------------------------------------------------


def clean_bounds(text: str) -> tuple[int, int]:
    """``[lo, hi)`` with ``text[lo:hi] == clean_span(text)`` (empty where the script's loop would crash)."""
    lo, hi = 0, len(text)
    while True:
        while lo < hi and text[lo].isspace():
            lo += 1
        while hi > lo and text[hi - 1].isspace():
            hi -= 1
        if lo >= hi:
            return lo, lo
        head, tail = text[lo] in string.punctuation, text[hi - 1] in string.punctuation
        if not head and not tail:
            return lo, hi
        lo, hi = lo + head, hi - tail


def clean_span(span: str) -> str:
    """``clean_span``: strip punctuation and whitespace from both ends; an all-punctuation span is an error."""
    lo, hi = clean_bounds(span)
    if lo == hi:
        raise ValueError(f"cause span {span!r} is empty once punctuation is stripped (the script fails on it)")
    return span[lo:hi]


def find_token_span(span: str, utterance: str) -> tuple[int, int] | None:
    """The first ``[begin, end)`` where ``span.split()`` occurs in ``utterance.split()``, or None."""
    needle, tokens = span.split(), utterance.split()
    for begin in range(len(tokens) - len(needle) + 1):
        if needle and tokens[begin : begin + len(needle)] == needle:
            return begin, begin + len(needle)
    return None


def span_position(span: str, utterance: str) -> tuple[int, int]:
    """``get_span_position``: :func:`find_token_span`, ``(0, 0)`` when the span is not there."""
    return find_token_span(span, utterance) or (0, 0)


# ---- the two scores ---------------------------------------------------------------------------------------


def _weights(gold_counts: Sequence[float]) -> list[float]:
    total = sum(gold_counts[1:])
    return [count / total if total else 0.0 for count in gold_counts[1:]]


def _scores(correct: list[float], predicted: list[float], gold: list[float], weight_counts: list[float]) -> Scores:
    precision = [c / (p + EPS) for c, p in zip(correct, predicted, strict=True)]
    recall = [c / (g + EPS) for c, g in zip(correct, gold, strict=True)]
    f1 = [2 * p * r / (p + r + EPS) for p, r in zip(precision, recall, strict=True)]
    weights = _weights(weight_counts)
    w_avg = [sum(x * w for x, w in zip(values[1:], weights, strict=True)) for values in (precision, recall, f1)]
    micro_p = sum(correct[1:]) / (sum(predicted[1:]) + EPS)
    micro_r = sum(correct[1:]) / (sum(gold[1:]) + EPS)
    micro_f1 = 2 * micro_p * micro_r / (micro_p + micro_r + EPS)
    return Scores(*w_avg, micro_p, micro_r, micro_f1, dict(zip(LABELS[1:], f1[1:], strict=True)))


def _by_key(pairs: Sequence[SpanPair]) -> dict[tuple[str, int, int], list[tuple[int, int, int]]]:
    """``get_span_pair_dict``: spans grouped by (conversation, emotion utterance, cause utterance), in order."""
    grouped: dict[tuple[str, int, int], list[tuple[int, int, int]]] = {}
    for pair in pairs:
        grouped.setdefault(pair.key, []).append(pair.span)
    return grouped


def strict_scores(gold: Sequence[SpanPair], predicted: Sequence[SpanPair]) -> Scores:
    """``cal_prf_span_pair_emocate(..., span_mode='strict')``: exact five-element matches, each gold row once."""
    remaining = _by_key(gold)
    correct, n_pred, n_gold = [0.0] * 7, [0.0] * 7, [0.0] * 7
    for pair in predicted:
        span = pair.span
        n_pred[span[2]] += 1
        candidates = remaining.get(pair.key)
        if pair.unplaced == "" and candidates is not None and span in candidates:
            candidates.remove(span)
            correct[span[2]] += 1
    for pair in gold:
        n_gold[pair.span[2]] += 1
    return _scores(correct, n_pred, n_gold, n_gold)


def match_scores(pred: tuple[int, int, int], gold: Sequence[tuple[int, int, int]]) -> tuple[int, int, int, float]:
    """``get_match_scores``: (index, gold length, overlap, overlap / gold length) of the best-matching gold span."""
    match_id, match_gold_length, match_length, match_score = 0, 0, 0, 0.0
    p_start, p_end, p_label = pred
    for index, (t_start, t_end, t_label) in enumerate(gold):
        if p_label == t_label and not (p_end <= t_start or p_start >= t_end):
            length = min(p_end, t_end) - max(p_start, t_start)
            score = length / float(t_end - t_start)
            if score > match_score or (score == match_score and score > 0 and length > match_length):
                match_id, match_gold_length, match_length, match_score = index, t_end - t_start, length, score
    return match_id, match_gold_length, match_length, match_score


def proportional_scores(gold: Sequence[SpanPair], predicted: Sequence[SpanPair]) -> Scores:
    """``cal_prf_span_pair_emocate_proportional``: token-overlap credit against the best gold span of the key."""
    gold_by_key = _by_key(gold)
    unmatched = {key: list(spans) for key, spans in gold_by_key.items()}
    correct, n_pred, n_gold, n_gold_spans = [0.0] * 7, [0.0] * 7, [0.0] * 7, [0.0] * 7
    for key, spans in _by_key([p for p in predicted if not p.unplaced]).items():
        for span in spans:
            n_pred[span[2]] += span[1] - span[0]
            if key in gold_by_key:
                match_id, gold_length, overlap, _ = match_scores(span, gold_by_key[key])
                if overlap > 0:
                    correct[span[2]] += overlap
                    n_gold[span[2]] += gold_length  # several predictions may match one gold span
                    if gold_by_key[key][match_id] in unmatched[key]:
                        unmatched[key].remove(gold_by_key[key][match_id])
    for pair in predicted:
        if pair.unplaced:
            n_pred[pair.span[2]] += pair.end - pair.start
    for spans in unmatched.values():
        for start, end, label in spans:
            n_gold[label] += end - start
    for pair in gold:
        n_gold_spans[pair.span[2]] += 1
    return _scores(correct, n_pred, n_gold, n_gold_spans)


def score_pairs(gold: Sequence[SpanPair], predicted: Sequence[SpanPair]) -> dict[str, Scores]:
    """Both modes (``evaluate_1_2``'s two score lists) for rows already deduplicated per conversation."""
    return {"strict": strict_scores(gold, predicted), "proportional": proportional_scores(gold, predicted)}


def _unique(pairs: list[SpanPair]) -> list[SpanPair]:
    return list(dict.fromkeys(pairs))


# ---- official JSON files ----------------------------------------------------------------------------------


def _int(value: str, where: str, field: str) -> int:
    try:
        return int(value.replace("U", ""))
    except ValueError:
        raise ValueError(f"{where}: {field} {value!r} is not an integer") from None


def official_pairs(record: Mapping[str, Any], conversation: str, predicted: bool) -> list[SpanPair]:
    """``get_new_pair_list``: one conversation's ``emotion-cause_pairs`` as rows (``predicted``: index form)."""
    where = f"conversation {conversation}"
    utterances = [u["text"] for u in record["conversation"]] if not predicted else []
    if "emotion-cause_pairs" not in record:
        raise ValueError(f"{where}: no 'emotion-cause_pairs' key")
    rows = []
    for pair in record["emotion-cause_pairs"]:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(side, str) for side in pair)):
            raise ValueError(f"{where}: emotion-cause_pairs entry {pair!r} is not ['<utt>_<emotion>', '<cause>']")
        emotion_id, _, label = pair[0].partition("_")
        if label not in LABELS:
            raise ValueError(f"{where}: emotion-cause_pairs entry {pair!r}: unknown emotion {label!r}")
        if predicted:
            parts = pair[1].replace("U", "").split("_")
            if any(c.isalpha() for c in pair[1]) or len(parts) != 3:
                raise ValueError(f"{where}: cause {pair[1]!r} must be '<utt>_<start>_<end>' token indexes")
            cause_id, start, end = (_int(p, where, f"cause {pair[1]!r}") for p in parts)
            if not 0 <= start <= end:
                raise ValueError(f"{where}: cause {pair[1]!r}: start and end must satisfy 0 <= start <= end")
        else:
            cause_field, _, cause_text = pair[1].partition("_")
            cause_id = _int(cause_field, where, "cause utterance id")
            if not 1 <= cause_id <= len(utterances):
                raise ValueError(f"{where}: cause {pair[1]!r} names no utterance {cause_id}")
            start, end = span_position(clean_span(cause_text), utterances[cause_id - 1])
        rows.append(
            SpanPair(conversation, _int(emotion_id, where, "emotion utterance id"), cause_id, start, end, label)
        )
    return _unique(rows)


def evaluate_subtask1(pred_data: Sequence[Mapping[str, Any]], gold_data: Sequence[Mapping[str, Any]]) -> dict:
    """``evaluate_1_2`` on the official JSON (lists of conversations): ``{"strict": Scores, "proportional": ...}``.

    Predictions for conversations not in gold are ignored; a gold conversation without one is an error.
    """
    gold_ids = [int(record["conversation_ID"]) for record in gold_data]
    pred = {int(record["conversation_ID"]): record for record in pred_data}
    if len(set(gold_ids)) != len(gold_ids) or len(pred) != len(pred_data):
        raise ValueError("conversation_ID repeated (the script: 'Instance repeat!')")
    gold_rows, pred_rows = [], []
    for conversation, record in zip(gold_ids, gold_data, strict=True):
        if conversation not in pred:
            raise ValueError(f"conversation_ID {conversation}: no prediction (the script refuses the file)")
        gold_rows += official_pairs(record, str(conversation), predicted=False)
        pred_rows += official_pairs(pred[conversation], str(conversation), predicted=True)
    return score_pairs(gold_rows, pred_rows)


# ---- ecct documents and predictions ------------------------------------------------------------------------


def is_ecf_corpus(gold: Sequence[Document]) -> bool:
    """True when every gold document comes from the ECF reader: ``source == "ecf2"`` (``ecct.data.readers.ecf``).

    The source survives JSONL export (``Document.to_dict``), and only such documents carry the utterance table
    (``meta["utterances"]``) the metric needs; a mixed or empty corpus gets no SemEval scores.
    """
    return bool(gold) and all(doc.source == ECF_SOURCE for doc in gold)


@dataclass(frozen=True)
class _Utterances:
    """A conversation's utterance texts and where each line starts (the line holds ``Speaker: text``)."""

    texts: list[str]
    starts: list[int]  # of the utterance text
    ends: list[int]
    line_starts: list[int]
    normalized: list[str]

    @classmethod
    def of(cls, doc: Document) -> _Utterances:
        table = doc.meta.get("utterances")
        where = f"document {doc.id!r}: meta.utterances"
        if not isinstance(table, list) or not table:
            raise ValueError(f"{where} is missing or empty; ECF documents carry it (ecct.data.readers.ecf)")
        starts, ends = [], []
        for i, utterance in enumerate(table):
            fields = [utterance.get(k) if isinstance(utterance, dict) else None for k in ("id", "start", "end")]
            if not all(type(x) is int for x in fields):
                raise ValueError(f"{where}[{i}] needs integer 'id', 'start' and 'end', got {utterance!r:.80}")
            if fields[0] != i + 1:
                raise ValueError(f"{where}[{i}].id is {fields[0]}; the script needs ids 1, 2, ... in order")
            if not (0 <= fields[1] <= fields[2] <= len(doc.text)) or (starts and fields[1] <= ends[-1]):
                raise ValueError(f"{where}[{i}]: start/end {fields[1:]} are not increasing offsets in the text")
            starts.append(fields[1])
            ends.append(fields[2])
        texts = [doc.text[s:e] for s, e in zip(starts, ends, strict=True)]
        line_starts = [0] + [end + 1 for end in ends[:-1]]
        return cls(texts, starts, ends, line_starts, [normalize(t, "en") for t in texts])

    def index_at(self, offset: int) -> int:
        """The utterance whose line holds character ``offset``."""
        return max(bisect.bisect_right(self.line_starts, offset) - 1, 0)


def document_pairs(doc: Document) -> list[SpanPair]:
    """Gold rows of an ECF document, as ``get_new_pair_list`` makes them from the original pairs.

    The emotion and cause utterances are those holding the spans; the cause *text* (the annotation, verbatim) is
    cleaned and placed by :func:`span_position` in its utterance.
    """
    utterances = _Utterances.of(doc)
    rows = []
    for triplet in doc.triplets:
        emotion, cause = utterances.index_at(triplet.emotion.start), utterances.index_at(triplet.cause.start)
        start, end = span_position(clean_span(triplet.cause.text), utterances.texts[cause])
        rows.append(SpanPair(doc.id, emotion + 1, cause + 1, start, end, _label(triplet.category, doc.id)))
    return _unique(rows)


def _label(category: Any, doc_id: str) -> str:
    key = category.strip().lower() if isinstance(category, str) else category
    if key not in LABEL_OF_CATEGORY:
        raise ValueError(f"document {doc_id!r}: triplet category {category!r} is not one of {tuple(LABEL_OF_CATEGORY)}")
    return LABEL_OF_CATEGORY[key]


def _placed(span: str, text: str) -> tuple[int, int] | None:
    start, end = getattr(span, "start", None), getattr(span, "end", None)
    if type(start) is int and type(end) is int and 0 <= start < end <= len(text) and text[start:end] == str(span):
        return start, end
    return None


def _locate(span: str, text: str, hint: int | None) -> tuple[int, int] | None:
    """Offsets given with the span (``PlacedSpan``; None unless they select its text), else the parser's rule:
    the occurrence nearest ``hint``."""
    if hasattr(span, "start"):
        return _placed(span, text)
    for needle in (str(span), normalize(str(span), "en")):
        found = find_span(text, needle, hint)
        if found is not None:
            return found.start, found.end
    return None


def _emotion_utterance(span: str, text: str, utterances: _Utterances) -> int | None:
    """The utterance equal to the emotion text (ECF's emotion span is the whole utterance), else the one holding it."""
    if not hasattr(span, "start"):
        wanted = normalize(str(span), "en")
        if wanted in utterances.normalized:
            return utterances.normalized.index(wanted)
    located = _locate(span, text, None)
    return None if located is None else utterances.index_at(located[0])


def _cause_tokens(span: str, text: str, utterances: _Utterances, emotion: int) -> tuple[int, int, int] | None:
    """(utterance, start, end) of a predicted cause: its cleaned text placed as the script places gold text.

    A cleaned text that is not a whole-token sequence of the utterance (it cuts a word) takes the tokens its
    characters overlap. The span is clipped to the utterance holding its start (the script has one cause utterance).
    """
    located = _locate(span, text, utterances.starts[emotion])
    if located is None:
        return None
    index = utterances.index_at(located[0])
    begin, end = max(located[0], utterances.starts[index]), min(located[1], utterances.ends[index])
    lo, hi = clean_bounds(text[begin:end]) if begin < end else (0, 0)
    if lo == hi:
        return None
    utterance = utterances.texts[index]
    found = find_token_span(text[begin + lo : begin + hi], utterance)
    if found is None:
        first, last = begin + lo - utterances.starts[index], begin + hi - utterances.starts[index]
        bounds = _token_bounds(utterance)
        covered = [i for i, (s, e) in enumerate(bounds) if s < last and first < e]
        found = covered[0], covered[-1] + 1
    return index, *found


def _token_bounds(text: str) -> list[tuple[int, int]]:
    """Character ranges of ``text.split()``'s tokens."""
    bounds, start = [], None
    for i, char in enumerate(text):
        if char.isspace():
            if start is not None:
                bounds.append((start, i))
            start = None
        elif start is None:
            start = i
    return bounds + ([(start, len(text))] if start is not None else [])


def prediction_pairs(doc: Document, triplets: Sequence[Sequence[str]]) -> list[SpanPair]:
    """Rows for ecct text triplets ``(emotion, cause, category)`` predicted on ECF document ``doc``.

    Emotion utterance: the first utterance whose text equals the emotion span, else the one holding its first
    occurrence (or its offsets). Cause: its offsets, else its occurrence nearest the emotion utterance (the
    parser's rule), then :func:`_cause_tokens`. A triplet that cannot be placed stays a predicted row that
    matches nothing (its length: the cleaned text's token count).
    """
    utterances = _Utterances.of(doc)
    rows = []
    for i, triplet in enumerate(triplets):
        if not (isinstance(triplet, Sequence) and len(triplet) == 3 and all(isinstance(x, str) for x in triplet)):
            raise ValueError(f"document {doc.id!r}, predicted triplet {i}: expected (emotion, cause, category)")
        emotion_span, cause_span, category = triplet
        label = _label(category, doc.id)
        emotion = _emotion_utterance(emotion_span, doc.text, utterances)
        cause = None if emotion is None else _cause_tokens(cause_span, doc.text, utterances, emotion)
        if emotion is None or cause is None:
            lo, hi = clean_bounds(normalize(str(cause_span), "en"))
            n_tokens = len(normalize(str(cause_span), "en")[lo:hi].split())
            rows.append(SpanPair(doc.id, 0, 0, 0, n_tokens, label, unplaced=f"{emotion_span}\n{cause_span}"))
        else:
            rows.append(SpanPair(doc.id, emotion + 1, cause[0] + 1, cause[1], cause[2], label))
    return _unique(rows)


def semeval_metrics(gold: Sequence[Document], predictions: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, Any]:
    """``semeval/{strict,proportional}/{w-avg,micro}-{precision,recall,f1}`` and per-category F1 for ECF gold.

    ``predictions`` maps a document id to its text triplets (plain strings or ``PlacedSpan``s); a document without
    one has none. Per-category keys use ecct's names (``happiness`` is the script's ``joy``).
    """
    gold_rows: list[SpanPair] = []
    pred_rows: list[SpanPair] = []
    for doc in gold:
        gold_rows += document_pairs(doc)
        pred_rows += prediction_pairs(doc, predictions.get(doc.id, []))
    metrics: dict[str, Any] = {
        "semeval/n_gold_pairs": len(gold_rows),
        "semeval/n_pred_pairs": len(pred_rows),
        "semeval/unplaced_predictions": sum(1 for row in pred_rows if row.unplaced),
    }
    for mode, scores in score_pairs(gold_rows, pred_rows).items():
        prefix = f"semeval/{mode}"
        for name in ("precision", "recall", "f1"):
            metrics[f"{prefix}/w-avg-{name}"] = getattr(scores, f"w_avg_{name}")
            metrics[f"{prefix}/micro-{name}"] = getattr(scores, f"micro_{name}")
        for label, f1 in scores.f1.items():
            metrics[f"{prefix}/{CATEGORY_OF_LABEL[label]}/f1"] = f1
    return metrics
