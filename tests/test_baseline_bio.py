"""BIO tagging <-> character spans, windows over long documents, and offsets on the real Gui corpus."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ecct.baseline import stage1
from ecct.baseline.bio import (
    CAUSE,
    EMOTION,
    IGNORE,
    LABEL_ID,
    LABELS,
    KindSpan,
    char_tags,
    decode_labels,
    document_spans,
    encode_labels,
    round_trip_errors,
)
from ecct.data.corpus import load_corpus
from ecct.data.model import Document, Span, Triplet


def char_offsets(text: str) -> list[tuple[int, int]]:
    return [(i, i + 1) for i in range(len(text))]


def round_trip(text: str, offsets: list[tuple[int, int]], spans: list[KindSpan]) -> list[KindSpan]:
    return decode_labels(offsets, encode_labels(offsets, char_tags(len(text), spans)), text)


def test_round_trip_with_one_token_per_character() -> None:
    text = "我很高兴，因为明天放假。"
    spans = [KindSpan(EMOTION, 2, 4), KindSpan(CAUSE, 7, 11)]
    labels = encode_labels(char_offsets(text), char_tags(len(text), spans))
    assert [LABELS[i] for i in labels] == [
        "O",
        "O",
        "B-EMO",
        "I-EMO",
        "O",
        "O",
        "O",
        "B-CAU",
        "I-CAU",
        "I-CAU",
        "I-CAU",
        "O",
    ]
    assert round_trip(text, char_offsets(text), spans) == spans


def test_adjacent_spans_of_one_kind_stay_apart() -> None:
    text = "abcdef"
    spans = [KindSpan(CAUSE, 0, 3), KindSpan(CAUSE, 3, 6)]
    assert round_trip(text, char_offsets(text), spans) == spans


def test_emotion_wins_over_an_overlapping_cause() -> None:
    text = "abcdefgh"
    tags = char_tags(len(text), [KindSpan(CAUSE, 0, 8), KindSpan(EMOTION, 3, 5)])
    assert tags == ["B-CAU", "I-CAU", "I-CAU", "B-EMO", "I-EMO", "I-CAU", "I-CAU", "I-CAU"]
    # The cause comes back in two pieces around the emotion: the documented loss.
    decoded = round_trip(text, char_offsets(text), [KindSpan(CAUSE, 0, 8), KindSpan(EMOTION, 3, 5)])
    assert decoded == [KindSpan(CAUSE, 0, 3), KindSpan(EMOTION, 3, 5), KindSpan(CAUSE, 5, 8)]


def test_a_boundary_inside_a_token_grows_the_span_to_the_whole_token() -> None:
    text = "很高兴见到你"
    offsets = [(0, 3), (3, 5), (5, 6)]  # "很高兴" is one token, the emotion is "高兴"
    spans = [KindSpan(EMOTION, 1, 3)]
    assert round_trip(text, offsets, spans) == [KindSpan(EMOTION, 0, 3)]
    assert round_trip_errors(text, offsets, spans) == [(spans[0], "boundary inside a token")]


def test_pieces_of_one_character_continue_a_span_and_empty_tokens_are_ignored() -> None:
    text = "x①y"
    offsets = [(0, 1), (1, 2), (1, 2), (2, 2), (2, 3)]  # "①" split into two pieces; an empty-offset token
    spans = [KindSpan(CAUSE, 1, 3)]
    labels = encode_labels(offsets, char_tags(len(text), spans))
    assert labels == [LABEL_ID["O"], LABEL_ID["B-CAU"], LABEL_ID["I-CAU"], IGNORE, LABEL_ID["I-CAU"]]
    assert round_trip(text, offsets, spans) == spans


def test_lenient_decoding_and_whitespace_trimming() -> None:
    text = "ab cd ef"
    offsets = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8)]
    i_emo, b_cau, i_cau, o = LABEL_ID["I-EMO"], LABEL_ID["B-CAU"], LABEL_ID["I-CAU"], LABEL_ID["O"]
    # I without B opens a span; I of another kind closes the open one; spans lose surrounding spaces.
    labels = [i_emo, i_emo, i_emo, i_cau, i_cau, i_cau, o, b_cau]
    assert decode_labels(offsets, labels, text) == [
        KindSpan(EMOTION, 0, 2),
        KindSpan(CAUSE, 3, 5),
        KindSpan(CAUSE, 7, 8),
    ]


@st.composite
def segmented_text_with_spans(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]], list[KindSpan]]:
    """A text cut into tokens, and non-overlapping spans whose boundaries are token boundaries."""
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=30))
    text = draw(st.text(alphabet="甲乙丙丁abc", min_size=sum(sizes), max_size=sum(sizes)))
    bounds = np.cumsum([0, *sizes]).tolist()
    offsets = list(itertools.pairwise(bounds))
    spans, token = [], 0
    while token < len(offsets):
        token += draw(st.integers(0, 3))
        length = draw(st.integers(1, 4))
        if token + length > len(offsets):
            break
        spans.append(
            KindSpan(draw(st.sampled_from([EMOTION, CAUSE])), offsets[token][0], offsets[token + length - 1][1])
        )
        token += length
    return text, offsets, spans


@settings(max_examples=200, deadline=None)
@given(segmented_text_with_spans())
def test_spans_on_token_boundaries_survive_the_round_trip(
    case: tuple[str, list[tuple[int, int]], list[KindSpan]],
) -> None:
    text, offsets, spans = case
    assert round_trip(text, offsets, spans) == spans
    assert round_trip_errors(text, offsets, spans) == []


@pytest.mark.parametrize("n_tokens", [0, 1, 9, 10, 11, 37, 100])
def test_windows_cover_every_token_and_overlap_by_the_stride(n_tokens: int) -> None:
    bounds = stage1.window_bounds(n_tokens, max_length=12, stride=3)
    assert bounds[0][0] == 0 and bounds[-1][1] == n_tokens
    assert all(end - start <= 10 for start, end in bounds)
    for (_, end), (next_start, _) in itertools.pairwise(bounds):
        assert end - next_start == 3


def test_impossible_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="stride"):
        stage1.window_bounds(50, max_length=10, stride=8)


class LookupTagger(torch.nn.Module):
    """A stand-in token classifier that returns the gold labels of each window it has been shown."""

    def __init__(self, table: dict[tuple[int, ...], list[int]]):
        super().__init__()
        self.table = table
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: object) -> object:
        logits = torch.zeros(*input_ids.shape, len(LABELS))
        for row, (ids, mask) in enumerate(zip(input_ids.tolist(), attention_mask.tolist(), strict=True)):
            labels = self.table[tuple(i for i, m in zip(ids, mask, strict=True) if m)]
            for position, label in enumerate(labels):
                logits[row, position, label if label != IGNORE else 0] = 1.0
        return type("Output", (), {"logits": logits})()


@pytest.fixture(scope="module")
def gui_corpus(data_dir: Path) -> list[Document]:
    from omegaconf import OmegaConf

    from ecct.data.paths import REPO_ROOT

    return load_corpus(OmegaConf.load(REPO_ROOT / "conf" / "data" / "gui2016.yaml"), data_dir).documents


@pytest.fixture(scope="module")
def e5_tokenizer():  # type: ignore[no-untyped-def]
    from ecct.baseline.encoder import build_tiny_bert, load_encoder_tokenizer

    return load_encoder_tokenizer(str(build_tiny_bert()))


def test_offsets_survive_tokenization_on_every_gui_document(gui_corpus: list[Document], e5_tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Gold spans -> BIO on e5 tokens -> spans: equal to gold except for spans a token boundary cannot express."""
    tokenized = stage1.tokenize(e5_tokenizer, [doc.text for doc in gui_corpus])
    reasons: Counter[str] = Counter()
    n_spans = 0
    for doc, tok in zip(gui_corpus, tokenized, strict=True):
        spans = document_spans(doc)
        n_spans += len(spans)
        for span, reason in round_trip_errors(doc.text, tok.offsets, spans):
            reasons[reason] += 1
            if reason == "boundary inside a token":
                token_edges = {s for s, _ in tok.offsets} | {e for _, e in tok.offsets}
                assert span.start not in token_edges or span.end not in token_edges
    print(f"\n{len(gui_corpus)} documents, {n_spans} spans, round-trip exceptions: {dict(reasons)}")
    assert len(gui_corpus) == 1947 and n_spans > 4000
    assert set(reasons) <= {"boundary inside a token", "overlaps another span"}, reasons
    assert reasons["overlaps another span"] <= 6  # 1 emotion-in-cause and 2 cause-cause overlaps in the corpus
    assert sum(reasons.values()) < 0.05 * n_spans


def test_windowed_prediction_merges_back_to_whole_document_spans(gui_corpus: list[Document], e5_tokenizer) -> None:  # type: ignore[no-untyped-def]
    """Long documents cut into small overlapping windows decode to the same spans as one whole pass."""
    documents = sorted(gui_corpus, key=lambda d: -len(d.text))[:20]  # the longest documents: many windows each
    max_length, stride = 40, 8
    dataset, windows, tokenized = stage1.build_dataset(documents, e5_tokenizer, max_length, stride)
    assert len(windows) > 5 * len(documents)
    table = {tuple(row["input_ids"]): row["labels"] for row in dataset}
    predicted = stage1.predict_spans(LookupTagger(table), e5_tokenizer, documents, max_length, stride, batch_size=7)
    for doc, tok in zip(documents, tokenized, strict=True):
        expected = round_trip(doc.text, tok.offsets, document_spans(doc))
        assert predicted[doc.id] == expected, doc.id


def test_document_spans_are_the_distinct_emotions_and_causes() -> None:
    text = "他很高兴，因为考上了大学，也因为拿了奖。"
    emotion = Span(2, 4, "高兴")
    doc = Document(
        "d",
        text,
        "zh",
        "test",
        [
            Triplet(emotion, Span(7, 12, "考上了大学"), "happiness"),
            Triplet(emotion, Span(16, 19, "拿了奖"), "happiness"),
        ],
    ).validate()
    assert document_spans(doc) == [KindSpan(EMOTION, 2, 4), KindSpan(CAUSE, 7, 12), KindSpan(CAUSE, 16, 19)]
