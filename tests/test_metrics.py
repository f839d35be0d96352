"""ecct.metrics: every expected number below is computed by hand in the comments next to it."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecct.data.model import CATEGORIES, Document, Triplet, find_span
from ecct.metrics import (
    GOLD_BUCKETS,
    PRED_BUCKETS,
    UNITS,
    aggregate,
    compute_metrics,
    format_details,
    format_mean_std,
    format_table,
    normalize,
    tokens,
)
from ecct.metrics.assignment import max_weight_assignment
from ecct.metrics.text import lcs_length
from ecct.output.formats import as_text_triplets
from ecct.output.parsing import parse_output


def make_doc(doc_id: str, text: str, language: str, triplets: list[tuple[str, str, str]]) -> Document:
    """A validated document whose spans are located by search (each must occur in ``text``)."""
    spans = [(find_span(text, e), find_span(text, c), k) for e, c, k in triplets]
    assert all(e and c for e, c, _ in spans), "test data: every gold span must occur in the text"
    return Document(doc_id, text, language, "test", [Triplet(e, c, k) for e, c, k in spans]).validate().sorted()


def score(metrics: dict, level: str, unit: str) -> tuple[float, float, float]:
    return tuple(metrics[f"{level}/{unit}/{name}"] for name in ("precision", "recall", "f1"))


def assert_scores(metrics: dict, level: str, unit: str, expected: tuple[float, float, float]) -> None:
    assert score(metrics, level, unit) == pytest.approx(expected), f"{level}/{unit}"


# ---------------------------------------------------------------- normalisation, tokens, LCS


def test_normalize_en_collapses_whitespace_but_keeps_case_and_punctuation():
    assert normalize("  I realize \t I am\n totally  naked . ", "en") == "I realize I am totally naked ."
    assert normalize("Naked .", "en") != normalize("naked.", "en")


def test_normalize_zh_removes_all_whitespace_including_ideographic_space():
    assert normalize(" 考试 通过\u3000了\n", "zh") == "考试通过了"


def test_normalize_rejects_unknown_language():
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        normalize("bonjour", "fr")


def test_tokens_are_characters_for_zh_and_words_for_en():
    assert tokens("考试通过", "zh") == ["考", "试", "通", "过"]
    assert tokens("the exam went well", "en") == ["the", "exam", "went", "well"]
    assert tokens("", "en") == []


def test_lcs_length_hand_cases():
    assert lcs_length(list("abcd"), list("bd")) == 2
    assert lcs_length(["the", "night", "alone"], ["alone", "night", "the"]) == 1  # order matters: not a bag
    assert lcs_length(list("我的猫也病了"), list("我的狗丢了")) == 3  # 我, 的, 了
    assert lcs_length([], ["a"]) == 0


def _lcs_reference(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from("abcd"), max_size=70), st.lists(st.sampled_from("abcde"), max_size=70))
def test_lcs_length_matches_dynamic_programming(a, b):
    assert lcs_length(a, b) == _lcs_reference(a, b)


# ---------------------------------------------------------------- assignment


def test_assignment_beats_greedy():
    # Greedy takes 0.9 first and is left with 0.0 (total 0.9); the optimum crosses: 0.8 + 0.8 = 1.6.
    assert max_weight_assignment([[0.9, 0.8], [0.8, 0.0]]) == [(0, 1), (1, 0)]


def test_assignment_rectangular_and_zero_weights_left_out():
    assert max_weight_assignment([[0.0, 0.0, 0.5]]) == [(0, 2)]
    assert max_weight_assignment([[0.0], [0.3], [0.2]]) == [(1, 0)]
    assert max_weight_assignment([[0.0, 0.0], [0.0, 0.0]]) == []
    assert max_weight_assignment([]) == []


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda rows: st.integers(1, 5).flatmap(
            lambda cols: st.lists(
                st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.75, 2.0]), min_size=cols, max_size=cols),
                min_size=rows,
                max_size=rows,
            )
        )
    )
)
def test_assignment_is_optimal_against_brute_force(weights):
    rows, cols = len(weights), len(weights[0])
    pairs = max_weight_assignment(weights)
    assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})
    if rows <= cols:
        best = max(sum(weights[r][p[r]] for r in range(rows)) for p in itertools.permutations(range(cols), rows))
    else:
        best = max(sum(weights[p[c]][c] for c in range(cols)) for p in itertools.permutations(range(rows), cols))
    assert sum(weights[r][c] for r, c in pairs) == pytest.approx(best)


# ---------------------------------------------------------------- span and word level, English

EN_TEXT = "I was afraid of spending the night alone . She was happy because the exam went well ."
EN_GOLD = [
    ("afraid", "spending the night alone", "fear"),  # G1
    ("happy", "the exam went well", "happiness"),  # G2
]
EN_PRED = [
    ("afraid", "spending the night alone", "fear"),  # P1: exact
    ("happy", "the exam went", "happiness"),  # P2: cause cut short
    ("afraid", "the night alone", "sadness"),  # P3: cause cut short, wrong category
]


@pytest.fixture
def en_metrics() -> dict:
    return compute_metrics([make_doc("en1", EN_TEXT, "en", EN_GOLD)], {"en1": EN_PRED})


def test_span_level_english(en_metrics):
    # emotion: pred {afraid, happy} (P3's "afraid" collapses), gold {afraid, happy}: TP 2 FP 0 FN 0.
    assert_scores(en_metrics, "span", "emotion", (1.0, 1.0, 1.0))
    # cause: pred {spending the night alone, the exam went, the night alone}, gold {spending…, the exam went well}
    # TP 1 FP 2 FN 1: P 1/3, R 1/2, F1 = 2·(1/3)(1/2)/(5/6) = 0.4.
    assert_scores(en_metrics, "span", "cause", (1 / 3, 1 / 2, 0.4))
    assert (en_metrics["span/cause/tp"], en_metrics["span/cause/fp"], en_metrics["span/cause/fn"]) == (1, 2, 1)
    # emotion_category: pred {(afraid,fear), (happy,happiness), (afraid,sadness)}: TP 2 FP 1 FN 0 -> 2/3, 1, 0.8.
    assert_scores(en_metrics, "span", "emotion_category", (2 / 3, 1.0, 0.8))
    # pair and triplet: only P1 is exact: TP 1 FP 2 FN 1 -> 1/3, 1/2, 0.4.
    assert_scores(en_metrics, "span", "pair", (1 / 3, 1 / 2, 0.4))
    assert_scores(en_metrics, "span", "triplet", (1 / 3, 1 / 2, 0.4))


def test_word_level_english(en_metrics):
    # Word F1 below is 2·(2/3)(7/8)/((2/3)+(7/8)) = (7/6)/(37/24) = 28/37.
    word_f1 = 28 / 37
    assert_scores(en_metrics, "word", "emotion", (1.0, 1.0, 1.0))
    # cause: "spending the night alone" pairs exactly (1, 1). Left: pred "the exam went" (3 tokens) and
    # "the night alone" (3) against gold "the exam went well" (4): LCS 3 -> (3/3, 3/4), weight 1.75, vs
    # LCS 1 ("the") -> (1/3, 1/4). Best: "the exam went". P = (1 + 1)/3 = 2/3, R = (1 + 3/4)/2 = 7/8.
    assert_scores(en_metrics, "word", "cause", (2 / 3, 7 / 8, word_f1))
    # emotion_category: exact (afraid,fear), (happy,happiness); (afraid,sadness) has no gold of its category.
    assert_scores(en_metrics, "word", "emotion_category", (2 / 3, 1.0, 0.8))
    # pair: P1 exact; P2–G2 = emotion 1 × cause (1, 3/4); P3 can only go to G1 (taken). P 2/3, R 7/8.
    assert_scores(en_metrics, "word", "pair", (2 / 3, 7 / 8, word_f1))
    # triplet: the same (P3's category sadness matches nothing).
    assert_scores(en_metrics, "word", "triplet", (2 / 3, 7 / 8, word_f1))


def test_per_category_english(en_metrics):
    m = en_metrics
    # fear: pred {P1}, gold {G1}: TP 1 -> 1, 1, 1.
    assert (m["category/fear/precision"], m["category/fear/recall"], m["category/fear/f1"]) == (1.0, 1.0, 1.0)
    assert (m["category/fear/support"], m["category/fear/predicted"]) == (1, 1)
    # happiness: pred {P2}, gold {G2}, no exact match: TP 0 -> 0, 0, 0.
    assert m["category/happiness/f1"] == 0.0
    assert (m["category/happiness/support"], m["category/happiness/predicted"]) == (1, 1)
    # sadness: P3 only, no gold: P = 0/1, R undefined -> 0.
    assert (m["category/sadness/support"], m["category/sadness/predicted"], m["category/sadness/f1"]) == (0, 1, 0.0)
    assert m["category/anger/support"] == m["category/anger/predicted"] == 0


def test_error_buckets_english(en_metrics):
    m = en_metrics
    # P1 correct; P2 and P3 overlap G2 and G1 in both spans (category ignored) -> partial_overlap.
    assert {b: m[f"errors/pred/{b}"] for b in PRED_BUCKETS} == {
        "correct": 1,
        "hallucinated_span": 0,
        "wrong_category": 0,
        "partial_overlap": 2,
        "spurious": 0,
    }
    # G1 found; G2 overlapped by P2.
    assert {b: m[f"errors/gold/{b}"] for b in GOLD_BUCKETS} == {
        "found": 1,
        "wrong_category": 0,
        "partial_overlap": 1,
        "missed": 0,
    }


# ---------------------------------------------------------------- span and word level, Chinese

ZH_TEXT = "他因为丢了钱包而很难过，后来找到了又很高兴。"
ZH_GOLD = [("难过", "丢了钱包", "sadness"), ("高兴", "找到了", "happiness")]
ZH_PRED = [
    ("难过", "丢了钱包而", "sadness"),  # one character too many
    ("高 兴", " 找到了", "Happiness"),  # spaces and capital: exact after normalisation
    ("难过", "钱包", "anger"),  # cause too short, wrong category
]


def test_span_and_word_level_chinese_character_tokens():
    m = compute_metrics([make_doc("zh1", ZH_TEXT, "zh", ZH_GOLD)], {"zh1": ZH_PRED})
    # triplet: only (高兴, 找到了, happiness) is exact: TP 1 FP 2 FN 1 -> 1/3, 1/2, 0.4.
    assert_scores(m, "span", "triplet", (1 / 3, 1 / 2, 0.4))
    # emotion: pred {难过, 高兴} = gold.
    assert_scores(m, "span", "emotion", (1.0, 1.0, 1.0))
    # word cause: 找到了 exact (1, 1). Left: pred 丢了钱包而 (5 chars), 钱包 (2) vs gold 丢了钱包 (4):
    # 丢了钱包而: LCS 4 -> (4/5, 4/4), weight 1.8; 钱包: LCS 2 -> (2/2, 2/4), weight 1.5. Best 丢了钱包而.
    # P = (1 + 0.8)/3 = 0.6, R = (1 + 1)/2 = 1, F1 = 2·0.6·1/1.6 = 0.75.
    assert_scores(m, "word", "cause", (0.6, 1.0, 0.75))
    # word triplet: (难过,丢了钱包而,sadness)–G1 = emotion 1 × cause (0.8, 1); G2 exact; anger matches nothing.
    assert_scores(m, "word", "triplet", (0.6, 1.0, 0.75))


def test_word_level_uses_subsequence_order_not_a_bag_of_words():
    doc = make_doc("en2", "I was afraid of the night alone .", "en", [("afraid", "the night alone", "fear")])
    m = compute_metrics([doc], {"en2": [("afraid", "alone night the", "fear")]})
    # A bag of words would give 3/3; the LCS of (alone night the, the night alone) is 1: P = R = F1 = 1/3.
    assert_scores(m, "word", "cause", (1 / 3, 1 / 3, 1 / 3))


def test_word_level_credits_shared_characters_but_the_taxonomy_needs_positional_overlap():
    text = "我很难过，因为我的狗丢了，我的猫也病了。"
    doc = make_doc("zh2", text, "zh", [("难过", "我的狗丢了", "sadness")])
    m = compute_metrics([doc], {"zh2": [("难过", "我的猫也病了", "sadness")]})
    # LCS(我的猫也病了, 我的狗丢了) = 3 (我, 的, 了): P = 3/6, R = 3/5, F1 = 2·0.5·0.6/1.1 = 6/11.
    assert_scores(m, "word", "cause", (0.5, 0.6, 6 / 11))
    # The causes share characters but no position in the text: spurious, and the gold triplet is missed.
    assert (m["errors/pred/spurious"], m["errors/pred/partial_overlap"], m["errors/gold/missed"]) == (1, 0, 1)


# ---------------------------------------------------------------- micro average, duplicates, empty cases


def test_micro_average_sums_counts_over_documents():
    d1 = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    d2 = make_doc(
        "b",
        "He was angry at the noise , sad about the rain and happy about the sun .",
        "en",
        [("angry", "the noise", "anger"), ("sad", "the rain", "sadness"), ("happy", "the sun", "happiness")],
    )
    m = compute_metrics([d1, d2], {"a": [("afraid", "the dark", "fear")], "b": [("angry", "the rain", "anger")]})
    # TP 1 (doc a), FP 1, FN 3: P 1/2, R 1/4, F1 = 2·(1/2)(1/4)/(3/4) = 1/3 (a per-document mean would say 0.5).
    assert_scores(m, "span", "triplet", (0.5, 0.25, 1 / 3))
    assert m["n_documents"] == 2 and m["n_gold_triplets"] == 4 and m["n_pred_triplets"] == 2


def test_duplicate_predictions_collapse_and_are_counted():
    doc = make_doc("d", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    pred = [("afraid", "the dark", "fear"), ("afraid", "the dark", "fear"), (" afraid", "the  dark ", "Fear")]
    m = compute_metrics([doc], {"d": pred})
    # Three lines, one triplet after normalisation: TP 1 FP 0 -> 1, 1, 1; two duplicates collapsed.
    assert_scores(m, "span", "triplet", (1.0, 1.0, 1.0))
    assert_scores(m, "word", "triplet", (1.0, 1.0, 1.0))
    assert (m["n_pred_triplets"], m["duplicate_predictions"]) == (1, 2)


def test_empty_gold_with_predictions_scores_zero():
    doc = Document("g0", "Nothing happens here .", "en", "test", [])
    m = compute_metrics([doc], {"g0": [("Nothing", "happens", "surprise")]})
    # TP 0 FP 1 FN 0: P = 0/1 = 0; R has a zero denominator -> 0; F1 -> 0.
    for unit in UNITS:
        assert_scores(m, "span", unit, (0.0, 0.0, 0.0))
        assert_scores(m, "word", unit, (0.0, 0.0, 0.0))
    assert (m["errors/pred/spurious"], m["n_gold_triplets"]) == (1, 0)


def test_empty_prediction_scores_zero_and_every_gold_is_missed():
    doc = make_doc("d", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    m = compute_metrics([doc], {"d": []})
    # TP 0 FP 0 FN 1: P has a zero denominator -> 0; R = 0/1; F1 = 0.
    assert_scores(m, "span", "triplet", (0.0, 0.0, 0.0))
    assert_scores(m, "word", "triplet", (0.0, 0.0, 0.0))
    assert (m["errors/gold/missed"], m["empty_predictions"], m["missing_predictions"]) == (1, 1, 0)


def test_both_empty_scores_zero_with_no_errors():
    m = compute_metrics([Document("e", "Nothing happens here .", "en", "test", [])], {"e": []})
    assert_scores(m, "span", "triplet", (0.0, 0.0, 0.0))
    assert_scores(m, "word", "emotion", (0.0, 0.0, 0.0))
    assert all(m[f"errors/pred/{b}"] == 0 for b in PRED_BUCKETS)
    assert all(m[f"errors/gold/{b}"] == 0 for b in GOLD_BUCKETS)


def test_missing_prediction_counts_as_empty():
    d1 = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    d2 = make_doc("b", "He was angry at the noise .", "en", [("angry", "the noise", "anger")])
    m = compute_metrics([d1, d2], {"a": [("afraid", "the dark", "fear")]})
    # TP 1 FP 0 FN 1: P 1, R 1/2, F1 2/3.
    assert_scores(m, "span", "triplet", (1.0, 0.5, 2 / 3))
    assert (m["missing_predictions"], m["empty_predictions"], m["errors/gold/missed"]) == (1, 1, 1)


def test_prediction_for_an_unknown_document_is_an_error():
    doc = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    with pytest.raises(ValueError, match=r"not in gold.*'zz'"):
        compute_metrics([doc], {"zz": []})


def test_repeated_gold_ids_are_an_error():
    doc = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    with pytest.raises(ValueError, match="repeated document ids"):
        compute_metrics([doc, doc], {})


def test_malformed_prediction_values_are_type_errors():
    doc = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    with pytest.raises(TypeError, match="document 'a'"):
        compute_metrics([doc], {"a": "(afraid, the dark, Fear)"})
    with pytest.raises(TypeError, match="triple of strings"):
        compute_metrics([doc], {"a": [("afraid", "the dark")]})


def test_whitespace_normalisation_applies_to_gold_too():
    # Gold spans with doubled spaces (ECF-like text) match a prediction written with single spaces.
    doc = make_doc("w", "I  was afraid of  the   dark .", "en", [("afraid", "of  the   dark", "fear")])
    m = compute_metrics([doc], {"w": [("afraid", "of the dark", "fear")]})
    assert_scores(m, "span", "triplet", (1.0, 1.0, 1.0))
    assert m["errors/pred/correct"] == 1 and m["errors/pred/hallucinated_span"] == 0


# ---------------------------------------------------------------- error taxonomy, violations


BUCKET_TEXT = (
    "I was afraid of the dark . He was angry at the loud noise . She was sad that he lost his dog ."
    " They were happy they won the prize ."
)
BUCKET_GOLD = [
    ("afraid", "the dark", "fear"),  # G1: found
    ("angry", "the loud noise", "anger"),  # G2: wrong_category
    ("sad", "he lost his dog", "sadness"),  # G3: partial_overlap
    ("happy", "they won the prize", "happiness"),  # G4: missed
]
BUCKET_PRED = [
    ("afraid", "the dark", "fear"),  # correct
    ("afraid", "the dark", "sadness"),  # wrong_category (G1 is still found: found beats wrong_category)
    ("angry", "the loud noise", "disgust"),  # wrong_category (also overlaps: wrong_category beats partial)
    ("sad", "lost his dog yesterday", "sadness"),  # hallucinated cause (beats partial_overlap)
    ("terrified", "the dark", "fear"),  # hallucinated emotion
    ("sad", "lost his dog", "sadness"),  # partial_overlap with G3
    ("happy", "They were", "happiness"),  # spurious: the emotion matches but the cause overlaps nothing
]


def test_every_error_bucket_with_its_precedence():
    m = compute_metrics([make_doc("x", BUCKET_TEXT, "en", BUCKET_GOLD)], {"x": BUCKET_PRED})
    assert {b: m[f"errors/pred/{b}"] for b in PRED_BUCKETS} == {
        "correct": 1,
        "hallucinated_span": 2,
        "wrong_category": 2,
        "partial_overlap": 1,
        "spurious": 1,
    }
    assert {b: m[f"errors/gold/{b}"] for b in GOLD_BUCKETS} == {
        "found": 1,
        "wrong_category": 1,
        "partial_overlap": 1,
        "missed": 1,
    }
    assert sum(m[f"errors/pred/{b}"] for b in PRED_BUCKETS) == m["n_pred_triplets"] == 7
    assert sum(m[f"errors/gold/{b}"] for b in GOLD_BUCKETS) == m["n_gold_triplets"] == 4


def test_empty_span_is_hallucinated():
    doc = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    m = compute_metrics([doc], {"a": [("afraid", "  ", "fear")]})
    assert m["errors/pred/hallucinated_span"] == 1
    assert_scores(m, "word", "cause", (0.0, 0.0, 0.0))  # an empty span has no token to share


def test_violations_are_counted_by_kind_and_not_verbatim_is_not_a_format_violation():
    doc = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    parsed = SimpleNamespace(
        text_triplets=[("afraid", "the dark", "fear")],
        violations=[
            SimpleNamespace(kind="format"),
            SimpleNamespace(kind="truncated"),
            "not_verbatim",
            {"kind": "duplicate"},
            "something new",
        ],
    )
    m = compute_metrics([doc], {"a": parsed})
    # format + truncated + duplicate + other (unknown kind) = 4; not_verbatim is a hallucination, counted apart.
    assert m["errors/format_violation"] == 4
    assert (m["violations/format"], m["violations/truncated"], m["violations/duplicate"]) == (1, 1, 1)
    assert (m["violations/not_verbatim"], m["violations/other"], m["violations/empty_span"]) == (1, 1, 0)
    assert_scores(m, "span", "triplet", (1.0, 1.0, 1.0))


def test_keys_are_stable_and_values_numeric():
    empty = compute_metrics([], {})
    full = compute_metrics([make_doc("x", BUCKET_TEXT, "en", BUCKET_GOLD)], {"x": BUCKET_PRED})
    assert list(empty) == list(full)
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in full.values())
    for category in CATEGORIES:
        assert f"category/{category}/f1" in full
    assert {"span/triplet/f1", "word/cause/precision", "errors/pred/hallucinated_span", "n_documents"} <= set(full)


# ---------------------------------------------------------------- properties on random predictions

WORDS = ["I", "was", "afraid", "of", "the", "dark", ".", "he", "felt", "sad"]


@st.composite
def document_and_predictions(draw):
    text_tokens = draw(st.lists(st.sampled_from(WORDS), min_size=4, max_size=16))
    text = " ".join(text_tokens)

    def piece() -> str:
        start = draw(st.integers(0, len(text_tokens) - 1))
        end = draw(st.integers(start + 1, min(len(text_tokens), start + 4)))
        return " ".join(text_tokens[start:end])

    gold = [(piece(), piece(), draw(st.sampled_from(CATEGORIES[:3]))) for _ in range(draw(st.integers(0, 4)))]
    doc = make_doc("r", text, "en", gold)
    invented = st.tuples(st.sampled_from([*WORDS, "ghost"]), st.sampled_from(WORDS), st.sampled_from(CATEGORIES[:3]))
    pred = draw(st.lists(st.one_of(st.sampled_from(gold) if gold else invented, invented), max_size=5))
    pred += [(piece(), piece(), draw(st.sampled_from(CATEGORIES[:3]))) for _ in range(draw(st.integers(0, 3)))]
    return doc, pred


@settings(max_examples=150, deadline=None)
@given(document_and_predictions())
def test_random_predictions_keep_the_invariants(case):
    doc, pred = case
    m = compute_metrics([doc], {"r": pred})
    assert sum(m[f"errors/pred/{b}"] for b in PRED_BUCKETS) == m["n_pred_triplets"]
    assert sum(m[f"errors/gold/{b}"] for b in GOLD_BUCKETS) == m["n_gold_triplets"]
    assert m["span/triplet/tp"] == m["errors/pred/correct"] == m["errors/gold/found"]
    for unit in UNITS:
        span_scores, word_scores = score(m, "span", unit), score(m, "word", unit)
        assert all(0.0 <= x <= 1.0 + 1e-12 for x in span_scores + word_scores)
        # Exact matches are paired first, so overlap credit can only add to the exact-match score.
        assert word_scores[0] >= span_scores[0] - 1e-12 and word_scores[1] >= span_scores[1] - 1e-12


@settings(max_examples=60, deadline=None)
@given(document_and_predictions())
def test_gold_as_prediction_scores_one_everywhere(case):
    doc, _ = case
    m = compute_metrics([doc], {"r": as_text_triplets(doc.triplets)})
    expected = (1.0, 1.0, 1.0) if doc.triplets else (0.0, 0.0, 0.0)
    for unit in UNITS:
        assert score(m, "span", unit) == pytest.approx(expected)
        assert score(m, "word", unit) == pytest.approx(expected)


# ---------------------------------------------------------------- aggregation and formatting


def test_aggregate_mean_sample_std_and_n():
    runs = [{"f1": 0.5, "n": 1, "name": "fold1"}, {"f1": 0.7, "n": 3, "flag": True}, {"f1": 0.6}]
    stats = aggregate(runs)
    # f1: mean (0.5 + 0.7 + 0.6)/3 = 0.6; sample std sqrt((0.01 + 0.01 + 0)/2) = 0.1.
    assert stats["f1"]["mean"] == pytest.approx(0.6)
    assert stats["f1"]["std"] == pytest.approx(0.1)
    assert stats["f1"]["n"] == 3
    # n: values 1 and 3 in two runs: mean 2, std sqrt((1 + 1)/1) = sqrt(2).
    assert stats["n"] == {"mean": 2.0, "std": pytest.approx(math.sqrt(2)), "n": 2}
    assert "name" not in stats and "flag" not in stats  # text and booleans are not metrics


def test_aggregate_single_run_has_zero_std():
    assert aggregate([{"span/triplet/f1": 0.42}]) == {"span/triplet/f1": {"mean": 0.42, "std": 0.0, "n": 1}}


def test_format_mean_std():
    assert format_mean_std(0.5123, 0.0131) == "0.512 ± 0.013"
    assert format_mean_std(0.5, 0.0, digits=1) == "0.5 ± 0.0"


def test_format_table_rows_are_units_with_span_then_word_scores(en_metrics):
    lines = format_table(en_metrics).splitlines()
    assert lines[0].split() == ["unit", "span", "P", "span", "R", "span", "F1", "word", "P", "word", "R", "word", "F1"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(rows) == list(UNITS)
    # cause: span 1/3, 1/2, 0.4; word 2/3, 7/8, 28/37 (see test_word_level_english).
    assert rows["cause"] == ["0.333", "0.500", "0.400", "0.667", "0.875", "0.757"]


def test_format_details_lists_categories_and_buckets(en_metrics):
    text = format_details(en_metrics)
    assert "fear       1.000  1.000  1.000     1          1" in text
    assert "partial_overlap 2" in text and "missing predictions 0" in text


def test_parse_results_from_the_parser_are_scored_directly():
    doc = make_doc("a", "I was afraid of the dark .", "en", [("afraid", "the dark", "fear")])
    output = "(afraid, the dark, Fear)\n(scared, the dark, Fear)\n(afraid, the dark, Fear)"
    m = compute_metrics([doc], {"a": parse_output(output, doc.text)})
    # The parser drops the repeated line (a duplicate violation) and keeps "scared" unlocated (not_verbatim):
    # pred {correct, hallucinated}: triplet P 1/2, R 1/1, F1 2/3.
    assert_scores(m, "span", "triplet", (0.5, 1.0, 2 / 3))
    assert (m["errors/pred/correct"], m["errors/pred/hallucinated_span"]) == (1, 1)
    assert (m["violations/duplicate"], m["violations/not_verbatim"], m["errors/format_violation"]) == (1, 1, 1)
