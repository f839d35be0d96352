"""Marker-constrained sampling: under random logits a row can only copy its own source's markers, each at most once
and verbatim, never writes a stray delimiter, and cannot end before its last marker is complete."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from ecct.augment.generation import (
    MARKER_CONSTRAINT_VERSION,
    GenerationError,
    GenerationRequest,
    SamplingConfig,
    build_generator,
)
from ecct.augment.local_generator import LocalGenerator
from ecct.augment.marker_constraint import MarkerLogitsProcessor, marker_vocabulary
from ecct.augment.marking import CAUSE, DEFAULT_MARKERS, EMOTION, Marker, MarkerFormat, strip_markers
from ecct.augment.openai_generator import OpenAIChatGenerator
from ecct.data.paths import REPO_ROOT
from ecct.models import load_tokenizer, resolve_model_path

TINY = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "model" / "tiny.yaml"))
ROWS = [
    (Marker(EMOTION, 1, "高兴"), Marker(CAUSE, 1, "孩子们考上了大学")),
    (Marker(EMOTION, 1, "afraid"), Marker(CAUSE, 1, "spending the night alone"), Marker(EMOTION, 2, "担心")),
    (Marker(CAUSE, 1, "同一句话"), Marker(CAUSE, 1, "同一句话"), Marker(EMOTION, 1, "愤怒")),  # one text, two causes
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY, resolve_model_path(TINY))  # type: ignore[arg-type]


def rendered(row, fmt: MarkerFormat = DEFAULT_MARKERS) -> tuple[str, ...]:
    return tuple(fmt.render(m.role, m.number, m.text) for m in row)


def decode(
    tokenizer,
    rows,
    seed: int,
    steps: int,
    open_bias: float,
    fmt: MarkerFormat = DEFAULT_MARKERS,
    eos_bias: float = 30.0,
    budget: int | list[int] | None = None,
    lengths: list[int] | None = None,
):
    """Greedy decoding of random logits through the processor as ``generate`` calls it (a shared padded prompt
    width), with ``open_bias`` added to tokens that hold the opening delimiter and ``eos_bias`` to the end.
    Returns (text, ended) per row; ``lengths``, if given, receives each row's number of tokens."""
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    markers = [rendered(r, fmt) for r in rows]
    processor = MarkerLogitsProcessor(markers, tokenizer, [eos], fmt, max_new_tokens=budget)
    bias = torch.zeros(len(tokenizer))
    bias[[i for i, _ in marker_vocabulary(tokenizer, fmt).openers]] = open_bias
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(rows), 5), pad, dtype=torch.long)
    ids[:, -1] = 1
    done = torch.zeros(len(rows), dtype=torch.bool)
    for _ in range(steps):
        scores = torch.randn(len(rows), len(tokenizer), generator=generator) + bias
        scores[:, eos] += eos_bias
        chosen = processor(ids, scores).argmax(-1)
        chosen[done] = pad
        done |= chosen == eos
        ids = torch.cat([ids, chosen[:, None]], dim=1)
        if done.all():
            break
    texts = [tokenizer.decode(row[5:], skip_special_tokens=True) for row in ids]
    if lengths is not None:
        lengths += [int(((row[5:] != pad) & (row[5:] != eos)).sum()) for row in ids]
    return list(zip(texts, done.tolist(), strict=True))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**16))
def test_rows_copy_exactly_their_own_markers_and_end_only_after_the_last(tokenizer, seed: int) -> None:
    for (text, ended), row in zip(decode(tokenizer, ROWS, seed, steps=160, open_bias=12.0), ROWS, strict=True):
        parsed = strip_markers(text)
        assert parsed.fragments == (), text  # no stray delimiter, label or half marker
        assert ended, f"row never finished: {text!r}"
        assert Counter(m for m, _ in parsed.found) == Counter(row), text  # each marker once, verbatim, nothing else


def test_a_row_that_wants_to_end_opens_its_unused_markers_first(tokenizer) -> None:
    # The end is by far the likeliest token and markers the least likely: each row still writes all its markers
    # (the end's probability passes end_threshold, so an opener is forced), then ends.
    for (text, ended), row in zip(decode(tokenizer, ROWS, 5, 80, open_bias=-100.0), ROWS, strict=True):
        parsed = strip_markers(text)
        assert ended and parsed.fragments == ()
        assert Counter(m for m, _ in parsed.found) == Counter(row), text


def test_a_row_opens_its_markers_when_the_budget_just_covers_them(tokenizer) -> None:
    budget = 40
    results = decode(tokenizer, ROWS, 7, budget, open_bias=-100.0, eos_bias=-100.0, budget=budget)
    for (text, _), row in zip(results, ROWS, strict=True):
        parsed = strip_markers(text)
        assert parsed.fragments == ()
        assert Counter(m for m, _ in parsed.found) == Counter(row), text  # written by the last budgeted token
        assert not strip_markers(text).text.startswith("[")  # the row wrote its own text before the markers


def test_a_row_ends_when_its_own_budget_is_spent(tokenizer) -> None:
    # generate's max_new_tokens is the batch's; each row stops at its own once its markers are written.
    lengths: list[int] = []
    results = decode(tokenizer, ROWS[:2], 3, 120, open_bias=0.0, eos_bias=-100.0, budget=[45, 90], lengths=lengths)
    assert [ended for _, ended in results] == [True, True]
    assert lengths == [45, 90]
    for (text, _), row in zip(results, ROWS[:2], strict=True):
        assert Counter(m for m, _ in strip_markers(text).found) == Counter(row)


def test_without_a_reason_to_open_a_row_writes_plain_text_and_cannot_end(tokenizer) -> None:
    for text, ended in decode(tokenizer, ROWS, seed=5, steps=30, open_bias=-100.0, eos_bias=-100.0):
        assert not ended
        assert strip_markers(text).found == () and strip_markers(text).fragments == ()


def test_inside_a_marker_only_its_continuations_are_allowed(tokenizer) -> None:
    eos = tokenizer.eos_token_id
    markers = rendered(ROWS[0])
    processor = MarkerLogitsProcessor([markers], tokenizer, [eos], DEFAULT_MARKERS)
    table = processor.vocab.table
    opener = tokenizer("[", add_special_tokens=False)["input_ids"]
    prompt = torch.tensor([[1, 2]])
    processor(prompt, torch.zeros(1, len(tokenizer)))
    scores = processor(torch.cat([prompt, torch.tensor([opener])], dim=1), torch.zeros(1, len(tokenizer)))
    allowed = torch.isfinite(scores[0]).nonzero().flatten().tolist()
    assert allowed and eos not in allowed
    written = b"".join(table[i] for i in opener)
    for token in allowed:
        assert any(m.encode().startswith(written + table[token]) for m in markers), table[token]


def test_custom_marker_format_is_followed(tokenizer) -> None:
    fmt = MarkerFormat(emotion_label="情感", cause_label="原因", open="<", close=">", span_open="«", span_close="»")
    for text, ended in decode(tokenizer, ROWS[:2], seed=1, steps=200, open_bias=12.0, fmt=fmt):
        parsed = strip_markers(text, fmt)
        assert ended and parsed.fragments == ()
        assert len(parsed.found) in (2, 3)


def test_local_generator_applies_the_constraint_to_each_source(tokenizer) -> None:
    sampling = SamplingConfig(temperature=1.0, max_new_tokens=64, length_factor=None, seed=2, constrain_markers=True)
    generator = build_generator({"type": "local", "model": TINY, "batch_size": 2}, sampling)
    assert isinstance(generator, LocalGenerator)
    requests = [
        GenerationRequest(f"doc{i}", k, [{"role": "user", "content": "改写"}], "x", rendered(row))
        for i, row in enumerate(ROWS)
        for k in range(2)
    ]
    outputs: dict[tuple[str, int], str] = {}
    generator.generate(requests, lambda r, text: outputs.__setitem__((r.source_id, r.sample), text), progress=False)
    assert len(outputs) == len(requests)
    for request in requests:  # a random model: the budget forces the markers in by the end of each sample
        parsed = strip_markers(outputs[(request.source_id, request.sample)])
        assert parsed.fragments == ()
        found = Counter(DEFAULT_MARKERS.render(m.role, m.number, m.text) for m, _ in parsed.found)
        assert found == Counter(request.markers)


def test_constraint_is_part_of_the_cache_key_and_refused_over_http() -> None:
    assert "constrain_markers" not in SamplingConfig().as_key()  # keys written before the option still match
    assert SamplingConfig(constrain_markers=True).as_key()["constrain_markers"] == MARKER_CONSTRAINT_VERSION
    with pytest.raises(GenerationError, match="constrain_markers"):
        OpenAIChatGenerator("http://127.0.0.1:1/v1", "m", SamplingConfig(constrain_markers=True))


def test_a_stop_string_cannot_be_written_while_markers_are_unused(tokenizer) -> None:
    # Samples are cut at stop strings after decoding: one written before the last marker would cut it away.
    eos, stop = tokenizer.eos_token_id, "\n原文："
    prompt = torch.tensor([[1, 2]])
    stop_ids = tokenizer(stop, add_special_tokens=False)["input_ids"]
    marker_ids = tokenizer("".join(rendered(ROWS[0])), add_special_tokens=False)["input_ids"]

    def last_token_allowed(before: list[int]) -> bool:
        processor = MarkerLogitsProcessor([rendered(ROWS[0])], tokenizer, [eos], DEFAULT_MARKERS, stop_strings=[stop])
        processor(prompt, torch.zeros(1, len(tokenizer)))
        ids = torch.cat([prompt, torch.tensor([before + stop_ids[:-1]])], dim=1)
        return bool(torch.isfinite(processor(ids, torch.zeros(1, len(tokenizer)))[0, stop_ids[-1]]))

    assert len(stop_ids) > 1
    assert not last_token_allowed([])
    assert last_token_allowed(marker_ids)  # every marker written: the sample may end at the stop string
