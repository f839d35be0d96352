"""Auxiliary labelling: marking spans, stripping markers, recomputing offsets, and refused sources."""

from __future__ import annotations

import itertools
from collections import Counter
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecct.augment.marking import (
    CAUSE,
    EMOTION,
    Marker,
    MarkerFormat,
    mark_document,
    rebuild_document,
    strip_markers,
)
from ecct.data.errors import DataError
from ecct.data.model import CATEGORIES, Document, Span, Triplet
from ecct.data.readers import read_jsonl


def demo_documents() -> list[Document]:
    path = resources.files("ecct.data") / "demo" / "demo.jsonl"
    return read_jsonl(str(path)).documents


def make_doc(text: str, pairs: list[tuple[str, str, str]], doc_id: str = "d") -> Document:
    """Triplets from (emotion text, cause text, category), located by first occurrence."""
    triplets = []
    for emotion, cause, category in pairs:
        e, c = text.index(emotion), text.index(cause)
        triplets.append(Triplet(Span(e, e + len(emotion), emotion), Span(c, c + len(cause), cause), category))
    return Document(doc_id, text, "zh", "test", triplets).sorted().validate()


def test_marks_two_causes_of_one_emotion_with_the_same_number() -> None:
    doc = next(d for d in demo_documents() if d.id == "zh-03")
    marked = mark_document(doc)
    assert marked.text == (
        "一名男子在超市排队时[Cause 1]{被人插队}，[Cause 1]{对方还出言不逊}，"
        "男子顿时十分[Emotion 1]{愤怒}，与其发生争执。"
    )
    assert marked.categories == {1: "anger"}


def test_emotions_are_numbered_in_text_order_and_causes_follow_their_emotion() -> None:
    text = "他因为丢了钱包而难过，后来钱包被好心人送回，他又很感动。"
    doc = make_doc(text, [("感动", "钱包被好心人送回", "happiness"), ("难过", "丢了钱包", "sadness")])
    marked = mark_document(doc)
    assert marked.text == (
        "他因为[Cause 1]{丢了钱包}而[Emotion 1]{难过}，后来[Cause 2]{钱包被好心人送回}，他又很[Emotion 2]{感动}。"
    )
    assert marked.categories == {1: "sadness", 2: "happiness"}


@pytest.mark.parametrize(
    ("text", "pairs", "reason"),
    [
        (
            "他后悔又自责，因为自己的荒唐行为。",
            [("后悔", "自己的荒唐行为", "sadness"), ("自责", "自己的荒唐行为", "sadness")],
            "cause shared by emotions",
        ),
        ("得知春节回家买票的事担心了很久", [("担心", "得知春节回家买票的事担心", "fear")], "overlapping spans"),
        ("他很{高兴}，因为考上了大学", [("高兴", "考上了大学", "happiness")], "text contains delimiters"),
        ("他很[Emotion 1]高兴，因为考上了大学", [("高兴", "考上了大学", "happiness")], "text contains delimiters"),
    ],
)
def test_documents_markers_cannot_describe_are_refused_with_a_reason(text: str, pairs: list, reason: str) -> None:
    with pytest.raises(DataError) as err:
        mark_document(make_doc(text, pairs))
    assert err.value.reason == reason


def test_a_document_without_triplets_and_an_emotion_with_two_categories_are_refused() -> None:
    with pytest.raises(DataError) as err:
        mark_document(Document("e", "今天天气很好。", "zh", "test"))
    assert err.value.reason == "no triplets"
    doc = make_doc("他又惊又喜，因为中了奖。", [("惊又喜", "中了奖", "happiness"), ("惊又喜", "中了奖", "surprise")])
    with pytest.raises(DataError) as err:
        mark_document(doc)
    assert err.value.reason == "emotion with two categories"


def test_strip_recomputes_offsets_in_a_rewritten_text() -> None:
    doc = next(d for d in demo_documents() if d.id == "zh-03")
    marked = mark_document(doc)
    rewrite = "昨晚，[Cause 1]{被人插队}之后，[Cause 1]{对方还出言不逊}，这位顾客[Emotion 1]{愤怒}地找来了店长。"
    parsed = strip_markers(rewrite)
    assert parsed.text == "昨晚，被人插队之后，对方还出言不逊，这位顾客愤怒地找来了店长。"
    assert parsed.fragments == ()
    new = rebuild_document(marked, parsed, "zh-03~aug0", {"augmented_from": "zh-03"})
    assert {(t.emotion.text, t.cause.text, t.category) for t in new.triplets} == {
        ("愤怒", "被人插队", "anger"),
        ("愤怒", "对方还出言不逊", "anger"),
    }
    for t in new.triplets:
        assert new.text[t.emotion.start : t.emotion.end] == t.emotion.text
        assert new.text[t.cause.start : t.cause.end] == t.cause.text
    assert new.meta == {"augmented_from": "zh-03"} and new.language == "zh"


def test_malformed_marker_pieces_are_reported() -> None:
    parsed = strip_markers("他很[Emotion 1]{高兴}，因为[Cause 1 {考上了大学}")
    assert [m for m, _ in parsed.found] == [Marker(EMOTION, 1, "高兴")]
    assert parsed.fragments  # "[Cause" and the stray braces


def test_every_marked_demo_document_round_trips() -> None:
    checked = 0
    for doc in demo_documents():
        if not doc.triplets:
            continue
        marked = mark_document(doc)
        rebuilt = rebuild_document(marked, strip_markers(marked.text), doc.id, {})
        assert rebuilt.text == doc.text
        assert rebuilt.triplets == doc.sorted().triplets
        checked += 1
    assert checked >= 25


def test_gui_training_documents_round_trip_or_are_refused_for_a_true_reason(data_dir) -> None:
    from omegaconf import OmegaConf

    from ecct.data.corpus import load_corpus
    from ecct.data.paths import REPO_ROOT

    corpus = load_corpus(OmegaConf.load(REPO_ROOT / "conf" / "data" / "gui2016.yaml"), data_dir)
    reasons: Counter[str] = Counter()
    for doc in corpus.part("train"):
        try:
            marked = mark_document(doc)
        except DataError as err:
            reasons[err.reason] += 1
            causes = Counter(t.cause for t in {(t.emotion, t.cause): t for t in doc.triplets}.values())
            spans = sorted({t.emotion for t in doc.triplets} | {t.cause for t in doc.triplets})
            overlapping = any(b.start < a.end for a, b in itertools.pairwise(spans))
            assert (err.reason == "cause shared by emotions" and max(causes.values()) > 1) or (
                err.reason == "overlapping spans" and overlapping
            ), (doc.id, err)
            continue
        rebuilt = rebuild_document(marked, strip_markers(marked.text), doc.id, {})
        assert (rebuilt.text, rebuilt.triplets) == (doc.text, doc.sorted().triplets)
    assert sum(reasons.values()) < 0.02 * len(corpus.part("train"))


CUSTOM = MarkerFormat(emotion_label="情感", cause_label="原因", open="【", close="】", span_open="《", span_close="》")


def test_a_configured_marker_format_renders_and_parses() -> None:
    assert CUSTOM.render(CAUSE, 2, "下雨") == "【原因 2】《下雨》"
    doc = make_doc("因为下雨，比赛取消，球迷很失望。", [("失望", "比赛取消", "sadness")])
    marked = mark_document(doc, CUSTOM)
    assert marked.text == "因为下雨，【原因 1】《比赛取消》，球迷很【情感 1】《失望》。"
    parsed = strip_markers(marked.text, CUSTOM)
    assert parsed.text == doc.text and not parsed.fragments
    assert strip_markers(marked.text).found == ()  # the default format does not see these markers


# A random document: filler text between non-overlapping spans; each span an emotion or a cause.
FILLER = st.text(alphabet="的了是在他她我们有这个人很说天来去好", min_size=1, max_size=6)
SPAN = st.text(alphabet="高兴难过害怕愤怒失望惊讶考试下雨丢钱包", min_size=1, max_size=5)


@st.composite
def random_documents(draw: st.DrawFn) -> Document:
    n_emotions = draw(st.integers(1, 3))
    causes_per = [draw(st.integers(1, 2)) for _ in range(n_emotions)]
    roles = [("E", k) for k in range(n_emotions)] + [("C", k) for k, n in enumerate(causes_per) for _ in range(n)]
    roles = draw(st.permutations(roles))
    text, spans = "", []
    for role in roles:
        text += draw(FILLER)
        piece = draw(SPAN)
        spans.append((role, Span(len(text), len(text) + len(piece), piece)))
        text += piece
    text += draw(FILLER)
    emotions = {k: span for (kind, k), span in spans if kind == "E"}
    categories = [draw(st.sampled_from(CATEGORIES)) for _ in range(n_emotions)]
    triplets = [Triplet(emotions[k], span, categories[k]) for (kind, k), span in spans if kind == "C"]
    return Document("h", text, "zh", "test", triplets).sorted().validate()


@settings(max_examples=150, deadline=None)
@given(random_documents())
def test_marking_then_stripping_restores_text_and_triplets(doc: Document) -> None:
    marked = mark_document(doc)
    parsed = strip_markers(marked.text)
    assert parsed.text == doc.text and parsed.fragments == ()
    assert tuple(m for m, _ in parsed.found) == marked.markers
    assert rebuild_document(marked, parsed, doc.id, {}).triplets == doc.triplets
