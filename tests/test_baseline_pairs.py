"""Stage 2's pairs and inputs: clause distance, markers in place, windows of long documents, negatives drawn like
the test-time candidates, thresholds tuned against every gold triplet, and a tiny model learning position."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from ecct.baseline import stage2
from ecct.baseline.encoder import build_tiny_bert, load_encoder_tokenizer
from ecct.baseline.pair_input import (
    NO_SPAN,
    Marked,
    distance_tag,
    encode_pairs,
    first_segments,
    mark_spans,
    spans_lost,
)
from ecct.baseline.pairs import (
    Pair,
    PairSettings,
    candidate_labels,
    candidate_pairs,
    clause_candidates,
    label_counts,
    n_gold_triplets,
    training_pairs,
)
from ecct.baseline.rules import split_clauses
from ecct.baseline.training import training_arguments
from ecct.data.model import Document, Span, Triplet


def _span(text: str, needle: str, start: int = 0) -> Span:
    at = text.index(needle, start)
    return Span(at, at + len(needle), needle)


def _doc(doc_id: str, text: str, triplets: list[tuple[str, str, str]]) -> Document:
    made = [Triplet(_span(text, e), _span(text, c), k) for e, c, k in triplets]
    return Document(doc_id, text, "zh", "test", made).validate()


# Clauses: 0 昨天他考上了大学 | 1 全家人都很高兴 | 2 晚上一起吃饭 | 3 他的朋友听说后很嫉妒 | 4 今天下雨 | 5 他留在家里
TEXT = "昨天他考上了大学，全家人都很高兴，晚上一起吃饭。他的朋友听说后很嫉妒，今天下雨，他留在家里。"
DOC = _doc("known", TEXT, [("高兴", "考上了大学", "happiness"), ("嫉妒", "考上了大学", "disgust")])
HAPPY, JEALOUS = DOC.triplets[0].emotion, DOC.triplets[1].emotion
CAUSE = DOC.triplets[0].cause


@pytest.fixture(scope="module")
def tokenizer() -> object:
    return load_encoder_tokenizer(str(build_tiny_bert()))


def test_the_clause_distance_of_a_known_document_is_its_prefix() -> None:
    assert [c.text for c in split_clauses(TEXT, "zh")][:4] == [
        "昨天他考上了大学",
        "全家人都很高兴",
        "晚上一起吃饭",
        "他的朋友听说后很嫉妒",
    ]
    far = _span(TEXT, "他留在家里")
    pairs = [
        Pair(0, HAPPY, CAUSE),
        Pair(0, JEALOUS, CAUSE),
        Pair(0, HAPPY, far),
        Pair(0, JEALOUS, _span(TEXT, "今天下雨")),
    ]
    firsts = first_segments(pairs, [DOC], "</s>", PairSettings(max_clause_distance=3))
    assert firsts == [
        "[d=-1] 高兴 </s> 考上了大学",
        "[d=-3] 嫉妒 </s> 考上了大学",
        "[d=+3] 高兴 </s> 他留在家里",  # +4, clipped: "3 or more"
        "[d=+1] 嫉妒 </s> 今天下雨",
    ]
    assert first_segments(pairs[:1], [DOC], "</s>", PairSettings(max_clause_distance=None, distance=False)) == [
        "高兴 </s> 考上了大学"
    ]
    assert distance_tag(0, 3) == "[d=0]" and distance_tag(-7, None) == "[d=-7]"


def _unmark(marked: Marked) -> str:
    text = marked.text
    for marker in ("<e>", "</e>", "<c>", "</c>"):
        text = text.replace(f" {marker} ", "")
    return text


@pytest.mark.parametrize(
    ("emotion", "cause"),
    [
        (HAPPY, CAUSE),  # cause before the emotion
        (_span(TEXT, "考上了大学"), _span(TEXT, "全家人都很高兴")),  # emotion first
        (_span(TEXT, "全家人都很"), _span(TEXT, "高兴")),  # adjacent: the first span closes before the next opens
    ],
)
def test_markers_wrap_exactly_the_two_spans_where_they_stand(emotion: Span, cause: Span) -> None:
    marked = mark_spans(TEXT, emotion, cause)
    assert _unmark(marked) == TEXT  # only the markers were added
    between = marked.text.split(" <e> ")[1].split(" </e> ")[0]
    assert between == emotion.text
    assert marked.text.split(" <c> ")[1].split(" </c> ")[0] == cause.text
    # Marked offsets: the pair's stretch runs from the first opening marker to the end of the last closing one.
    first_marker = min(marked.text.index(" <e> "), marked.text.index(" <c> "))
    assert marked.pair_start == first_marker
    assert marked.text[: marked.pair_end].endswith((" </e> ", " </c> "))
    assert marked.text[marked.pair_end :] == TEXT[max(emotion.end, cause.end) :]


def test_a_short_document_is_read_whole_a_long_one_through_a_window_centred_on_the_pair(tokenizer) -> None:  # type: ignore[no-untyped-def]
    settings = PairSettings(max_length=160)
    encoded = encode_pairs([Pair(0, HAPPY, CAUSE)], [DOC], tokenizer, settings)
    text = tokenizer.decode(encoded["input_ids"][0]).replace(" ", "")
    assert text.startswith("<s>[d=-1]高兴</s>考上了大学</s></s>")
    assert text.endswith("他留在家里。</s>") and "昨天他<c>考上了大学</c>,全家人都很<e>高兴</e>" in text

    filler = "".join(f"第{i}句话没有什么，" for i in range(40))
    long_text = filler + "他很高兴，因为考上了大学，" + filler
    long_doc = _doc("long", long_text, [("高兴", "考上了大学", "happiness")])
    pair = Pair(0, long_doc.triplets[0].emotion, long_doc.triplets[0].cause)
    for max_length in (64, 96):
        ids = encode_pairs([pair], [long_doc], tokenizer, replace(settings, max_length=max_length))["input_ids"][0]
        window = tokenizer.decode(ids).replace(" ", "")
        assert max_length - 3 <= len(ids) <= max_length  # the largest window that fits
        assert "<e>高兴</e>" in window and "<c>考上了大学</c>" in window
        before, after = window.split("<e>")[0], window.split("</c>")[1]  # both sides of the pair, about as long
        assert "第39句" in before and "第0句" not in before and "第0句" in after and "第39句" not in after


def _marked_tokens(tokenizer, encoded, i: int, key: str) -> str:  # type: ignore[no-untyped-def]
    first, last = encoded[key][i]
    return tokenizer.decode(encoded["input_ids"][i][first:last]).replace(" ", "")


def test_each_pairs_span_ranges_hold_exactly_its_marked_spans_in_every_context(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """What the classifier pools: the tokens from <e> to </e> and from <c> to </c>, wherever the spans stand."""
    pairs = [Pair(0, HAPPY, CAUSE), Pair(0, JEALOUS, CAUSE), Pair(0, HAPPY, _span(TEXT, "今天下雨"))]
    for settings in (PairSettings(max_length=160), PairSettings(max_length=64, context="window", context_chars=3)):
        encoded = encode_pairs(pairs, [DOC], tokenizer, settings)
        assert set(encoded) == {"input_ids", "attention_mask", "emotion_span", "cause_span"}
        for i, pair in enumerate(pairs):
            assert _marked_tokens(tokenizer, encoded, i, "emotion_span") == f"<e>{pair.emotion.text}</e>"
            assert _marked_tokens(tokenizer, encoded, i, "cause_span") == f"<c>{pair.cause.text}</c>"
        assert spans_lost(encoded) == 0
    # A long document read through a window centred on the pair: the ranges move with the cut.
    filler = "".join(f"第{i}句话没有什么，" for i in range(40))
    long_doc = _doc("long", filler + "他很高兴，因为考上了大学，" + filler, [("高兴", "考上了大学", "happiness")])
    pair = Pair(0, long_doc.triplets[0].emotion, long_doc.triplets[0].cause)
    encoded = encode_pairs([pair], [long_doc], tokenizer, PairSettings(max_length=64))
    assert _marked_tokens(tokenizer, encoded, 0, "emotion_span") == "<e>高兴</e>"
    assert _marked_tokens(tokenizer, encoded, 0, "cause_span") == "<c>考上了大学</c>"
    # A pair farther apart than the window: the window holds neither span, both point at [CLS] and are counted.
    far = _doc("far", "他很高兴。" + filler * 3 + "考上了大学。", [("高兴", "考上了大学", "happiness")])
    pair = Pair(0, far.triplets[0].emotion, far.triplets[0].cause)
    encoded = encode_pairs([pair], [far], tokenizer, PairSettings(max_length=64))
    assert tuple(encoded["emotion_span"][0]) == NO_SPAN == tuple(encoded["cause_span"][0])
    assert spans_lost(encoded) == 1


def test_candidate_negatives_are_every_nearby_clause_and_the_emotion_clause_around_the_emotion() -> None:
    nearby = [s.text for s in clause_candidates(DOC, HAPPY, max_distance=1)]
    assert nearby == ["全家人都很", "晚上一起吃饭", "昨天他考上了大学"]  # own clause (minus the emotion) first
    pairs = training_pairs(0, DOC, PairSettings(max_clause_distance=3))
    labelled = {(p.emotion.text, p.cause.text): stage2.PAIR_LABELS[p.label] for p in pairs}
    assert labelled[("高兴", "考上了大学")] == "happiness" and labelled[("嫉妒", "考上了大学")] == "disgust"
    happy_negatives = {c for (e, c), k in labelled.items() if e == "高兴" and k == "none"}
    # every clause within 3 of the emotion's, never one overlapping its cause; +4 is too far
    assert happy_negatives == {"全家人都很", "晚上一起吃饭", "他的朋友听说后很嫉妒", "今天下雨"}
    jealous_negatives = {c for (e, c), k in labelled.items() if e == "嫉妒" and k == "none"}
    assert jealous_negatives == {"他的朋友听说后很", "晚上一起吃饭", "今天下雨", "他留在家里", "全家人都很高兴"}
    assert label_counts(pairs) == {
        "pairs": 11,
        "positive": 2,
        "negative": 9,
        "none": 9,
        "happiness": 1,
        "disgust": 1,
    }
    capped = training_pairs(0, DOC, PairSettings(negatives_per_emotion=1))
    assert {(p.emotion.text, p.cause.text) for p in capped if p.label == 0} == {
        ("高兴", "全家人都很"),
        ("嫉妒", "他的朋友听说后很"),
    }


def test_training_pairs_cover_the_candidates_a_perfect_stage1_would_propose() -> None:
    # Gold emotions x gold causes, the test-time candidates on gold spans, are all in the training pairs, labelled.
    gold_like = _doc("two", "他很高兴，因为考上了大学，妈妈很难过，因为他要离开家。", [])
    gold_like = replace(
        gold_like,
        triplets=[
            Triplet(_span(gold_like.text, "高兴"), _span(gold_like.text, "考上了大学"), "happiness"),
            Triplet(_span(gold_like.text, "难过"), _span(gold_like.text, "他要离开家"), "sadness"),
        ],
    )
    emotions = [t.emotion for t in gold_like.triplets]
    causes = [t.cause for t in gold_like.triplets]
    candidates, _ = candidate_pairs(0, emotions, causes, limit=None)
    trained = {(p.emotion, p.cause): p.label for p in training_pairs(0, gold_like, PairSettings())}
    labels = candidate_labels(candidates, [gold_like])
    assert all((c.emotion, c.cause) in trained for c in candidates)
    assert [trained[(c.emotion, c.cause)] for c in candidates] == labels
    assert sorted(stage2.PAIR_LABELS[k] for k in labels) == ["happiness", "none", "none", "sadness"]


def test_nearest_negatives_keep_the_first_baselines_sampling() -> None:
    pairs = training_pairs(0, DOC, PairSettings(negatives="nearest", negatives_per_emotion=1))
    negatives = {(p.emotion.text, p.cause.text) for p in pairs if p.label == 0}
    assert negatives == {("高兴", "晚上一起吃饭"), ("嫉妒", "今天下雨")}  # whole clauses, never the emotion's own


def test_settings_come_from_the_stage2_config_and_refuse_what_cannot_run() -> None:
    cfg = OmegaConf.create({"max_length": 128, "context": "window", "distance": False, "trainer": {}})
    assert PairSettings.from_config(cfg) == PairSettings(max_length=128, context="window", distance=False)
    with pytest.raises(ValueError, match=r"stage2\.context"):
        PairSettings(context="sentence")
    with pytest.raises(ValueError, match="negatives_per_emotion"):
        PairSettings(negatives="nearest")
    with pytest.raises(ValueError, match=r"stage2\.distance"):
        PairSettings.from_config(OmegaConf.create({"distance": "no"}))


def test_the_threshold_counts_gold_triplets_stage1_missed_in_its_recall() -> None:
    documents = [DOC]
    assert n_gold_triplets(documents) == 2
    probabilities = np.array([[0.3, 0.7, 0, 0, 0, 0, 0], [0.6, 0.4, 0, 0, 0, 0, 0]])
    gold = [1, 0]
    # One found pair, a second gold triplet missing from the candidates: recall is 1/2 at best.
    threshold, f1 = stage2.tune_none_threshold(probabilities, gold, n_gold=2)
    assert 0.3 < threshold <= 0.6 and f1 == pytest.approx(2 / 3)
    assert stage2.tune_none_threshold(probabilities, gold)[1] == pytest.approx(1.0)


def test_a_tiny_model_learns_that_the_cause_is_the_clause_before_the_emotion(tmp_path: Path, tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Every clause comes from one pool, so only the position (the prefix, the markers) tells the cause."""
    pool = ["他去了商店", "今天下雨", "老师来了", "天气很冷", "我们吃饭", "车子坏了", "电话响了", "门开着"]
    rng = np.random.default_rng(0)

    def make(i: int) -> Document:
        clauses = [pool[j] for j in rng.permutation(len(pool))[:6]]
        at = int(rng.integers(1, 6))
        clauses[at] = "他很高兴"
        text = "，".join(clauses) + "。"
        return _doc(f"s{i}", text, [("高兴", clauses[at - 1], "happiness")])

    train, test = [make(i) for i in range(40)], [make(100 + i) for i in range(10)]
    settings = PairSettings(max_length=64)
    torch.manual_seed(0)
    model = stage2.load_model(str(build_tiny_bert()), freeze_word_embeddings=False)
    args = training_arguments(
        {"num_train_epochs": 8, "per_device_train_batch_size": 16, "learning_rate": 5e-3, "use_cpu": True}
        | {"eval_steps": 10_000, "save_steps": 10_000, "disable_tqdm": True, "logging_steps": 50},
        tmp_path / "checkpoints",
        seed=0,
        data_seed=0,
        best_metric=stage2.BEST_METRIC,
    )
    stage2.build_trainer(model, tokenizer, args, train, train[:4], settings).train()
    right = 0
    for i, doc in enumerate(test):
        pairs = [p for p in training_pairs(i, doc, settings)]
        p_none = stage2.pair_probabilities(model, tokenizer, pairs, test, settings)[:, 0]
        right += int(pairs[int(p_none.argmin())].label != 0)  # the gold pair is the least "none"
    assert right >= 8, right  # without the distance prefix: 1-4 of 10 (seeds 0-2)
