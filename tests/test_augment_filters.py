"""Filters on generated rewrites: each rejection reason, and an accepted rewrite with recomputed offsets."""

from __future__ import annotations

import pytest

from ecct.augment.filters import (
    REASONS,
    FilterConfig,
    NearDuplicateIndex,
    Rejected,
    char_ngrams,
    check_candidate,
    distinct_share,
    echoed_piece,
    foreign_words,
    jaccard,
    language_share,
)
from ecct.augment.marking import DEFAULT_MARKERS, mark_document
from ecct.augment.prompts import echo_fragments
from ecct.data.model import Document, Span, Triplet

TEXT = "一名男子在超市排队时被人插队，对方还出言不逊，男子顿时十分愤怒，与其发生争执。"
SOURCE = Document(
    "zh-03",
    TEXT,
    "zh",
    "demo",
    [
        Triplet(Span(29, 31, "愤怒"), Span(10, 14, "被人插队"), "anger"),
        Triplet(Span(29, 31, "愤怒"), Span(15, 22, "对方还出言不逊"), "anger"),
    ],
).validate()
MARKED = mark_document(SOURCE)
GOOD = (
    "周末晚上，一位顾客在商场收银台前[Cause 1]{被人插队}，[Cause 1]{对方还出言不逊}，"
    "他当场[Emotion 1]{愤怒}地叫来了保安。"
)
DEFAULT_FILTERS = FilterConfig()


def check(output: str, cfg: FilterConfig = DEFAULT_FILTERS, index: NearDuplicateIndex | None = None) -> Document:
    return check_candidate(
        MARKED,
        output,
        fmt=DEFAULT_MARKERS,
        cfg=cfg,
        echo_fragments=echo_fragments("en", DEFAULT_MARKERS, "zh"),
        doc_id="zh-03~aug0",
        meta={"augmented_from": "zh-03"},
        accepted=index,
    )


def test_a_faithful_rewrite_becomes_a_valid_document_with_new_offsets() -> None:
    doc = check(GOOD)
    assert doc.text == "周末晚上，一位顾客在商场收银台前被人插队，对方还出言不逊，他当场愤怒地叫来了保安。"
    assert doc.id == "zh-03~aug0" and doc.meta == {"augmented_from": "zh-03"}
    assert sorted((t.cause.start, t.cause.text) for t in doc.triplets) == [(16, "被人插队"), (21, "对方还出言不逊")]
    assert {(t.emotion.start, t.emotion.text, t.category) for t in doc.triplets} == {(32, "愤怒", "anger")}
    doc.validate()


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("   \n", "empty output"),
        ("\ufffd\ufffd", "empty output"),
        (GOOD.replace("保安", "保\ufffd安"), "broken characters"),
        (MARKED.text, "echo of source"),
        (MARKED.text.replace("，", " ，"), "echo of source"),
        (
            "Rules:\n1. Copy every marked span exactly once, character for character, together with its marker.",
            "echo of prompt",
        ),
        (GOOD.replace("[Cause 1]{被人插队}", "[Cause 1]被人插队"), "malformed marker"),
        (GOOD.replace("[Emotion 1]{愤怒}", "{愤怒}"), "malformed marker"),
        (GOOD.replace("[Cause 1]{对方还出言不逊}", "对方还出言不逊"), "marker missing"),
        (GOOD.replace("[Cause 1]{对方还出言不逊}", "[Cause 1]{对方出言不逊}"), "marker text changed"),
        (GOOD + "[Emotion 1]{愤怒}", "marker repeated"),
        (GOOD + "大家都很[Emotion 2]{无奈}", "extra marker"),
        (GOOD.replace("[Cause 1]{对方还出言不逊}", "[Cause 2]{对方还出言不逊}"), "marker missing"),
        ("[Cause 1]{被人插队}[Cause 1]{对方还出言不逊}[Emotion 1]{愤怒}", "too short"),
        (GOOD + "后来" + "事情经过了很久很久" * 10, "too long"),
        (
            "A shopper was [Cause 1]{被人插队}, [Cause 1]{对方还出言不逊}; he was [Emotion 1]{愤怒} today.",
            "wrong language",
        ),
        # the worked example's opening (22 characters), then a faithful rewrite: still an echo
        ("年关将近，老周蹲在工地门口一根接一根地抽烟。" + GOOD, "echo of prompt"),
        (GOOD + "哈" * 30, "repetitive"),
        (GOOD + "user\n他很好", "wrong language"),  # chat-turn debris in a text that is 90% Chinese
        (MARKED.text.replace("男子顿时", "他立刻"), "near-duplicate of source"),
    ],
)
def test_each_failure_is_rejected_with_its_reason(output: str, reason: str) -> None:
    with pytest.raises(Rejected) as err:
        check(output)
    assert err.value.reason == reason
    assert reason in REASONS


def test_a_character_cut_at_the_end_of_the_budget_is_dropped() -> None:
    assert check(GOOD + "\ufffd").text == check(GOOD).text


def test_near_duplicate_of_an_accepted_augmentation_is_rejected_but_a_different_one_passes() -> None:
    index = NearDuplicateIndex(3)
    check(GOOD, index=index)
    with pytest.raises(Rejected) as err:
        check(GOOD.replace("周末晚上", "周日晚上"), index=index)
    assert err.value.reason == "near-duplicate of another augmentation"
    other = (
        "春节前夕的菜市场里，张大爷排了半小时队却[Cause 1]{被人插队}，[Cause 1]{对方还出言不逊}，"
        "老人气得直跺脚，[Emotion 1]{愤怒}地报了警。"
    )
    check(other, index=index)


def test_thresholds_come_from_the_config() -> None:
    lenient = FilterConfig(max_source_similarity=1.0)
    check(MARKED.text.replace("男子顿时", "他立刻"), cfg=lenient)  # accepted once the threshold allows it
    with pytest.raises(ValueError, match="min_length_ratio"):
        FilterConfig(min_length_ratio=1.5)


def test_similarity_and_language_measures() -> None:
    assert jaccard(char_ngrams("abcdef", 3), char_ngrams("abcdef", 3)) == 1.0
    assert jaccard(char_ngrams("abcdef", 3), char_ngrams("uvwxyz", 3)) == 0.0
    assert jaccard(char_ngrams("abcde", 3), char_ngrams("abcdx", 3)) == pytest.approx(2 / 4)
    assert language_share("他很高兴 OK", "zh") == pytest.approx(4 / 6)
    assert language_share("Café ok", "en") == pytest.approx(5 / 6)
    assert language_share("123，。", "zh") == 0.0


def test_repetition_and_echo_measures() -> None:
    assert distinct_share("他很高兴地回家了") == 1.0
    assert distinct_share("哈哈哈哈哈哈哈哈") == pytest.approx(1 / 5)
    assert distinct_share("abc") == 1.0  # shorter than one 4-gram
    pieces = ["年关将近，老周蹲在工地门口一根接一根地抽烟。", "原文："]
    assert echoed_piece("前面的话。年关将近，老周蹲在工地门口一根接一根地抽烟", pieces, 20) == pieces[0]
    assert echoed_piece("年关将近，老周蹲在工地门口", pieces, 20) is None  # 12 characters: below the window
    assert echoed_piece("年关将近，老周蹲在工地门口", pieces, 10) == pieces[0]
    assert echoed_piece("他说：原 文：如下", pieces, 20) == pieces[1]  # a short piece counts whole, spaces ignored
    zh_prompt = echo_fragments("zh", DEFAULT_MARKERS)  # 17 characters of an instruction line after a variant 請
    assert echoed_piece("請改写下面的短文。文中带标记的片段：袭击", zh_prompt, 16) is not None
    assert foreign_words("他说user好，いただきますmodel。KTV很吵", "zh", "去KTV唱歌") == ["user", "いただきますmodel"]
    assert foreign_words("She said 你好 and café", "en", "") == ["你好"]  # one accented letter is no word
    check(GOOD.replace("周末晚上", "周末晚上在KTV门口"), cfg=FilterConfig(max_foreign_words=1))  # allowed once
    with pytest.raises(ValueError, match="echo_window"):
        FilterConfig(echo_window=2)
