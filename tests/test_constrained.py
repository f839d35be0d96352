"""Verbatim-constrained decoding: under random logits every emitted span is a substring of its own row's document,
every category is in the label set, and the output parses without ``not_verbatim`` (or any format) violation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from ecct.data.model import CATEGORIES
from ecct.decoding.constrained import DocumentGrammar, VerbatimLogitsProcessor, _token_table
from ecct.decoding.generate import GenerationSettings, generate
from ecct.models import load_tokenizer, resolve_model_path
from ecct.output.formats import CATEGORY_DISPLAY
from ecct.output.parsing import parse_output

TINY = OmegaConf.create({"source": "tiny", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})
ALPHABET = "abcdefghij XYZ,.!?'\"，。、高兴害怕愤怒的了孩子们看到()（）[]\n\t-:;0123456789"
ALLOWED_VIOLATIONS = {"truncated", "duplicate"}  # random choices may be cut off mid-triplet or repeat one


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY, resolve_model_path(TINY))


@pytest.fixture(scope="module")
def avoid_none(tokenizer) -> torch.Tensor:
    """A logit bias against tokens starting with "N": random logits would otherwise mostly write "None"."""
    bias = torch.zeros(len(tokenizer))
    pieces = tokenizer.convert_ids_to_tokens(range(len(tokenizer)))
    bias[[i for i, piece in enumerate(pieces) if piece[:1] == "N"]] = -20.0
    return bias


def decode_under_constraint(
    tokenizer,
    documents: list[str],
    seed: int,
    steps: int,
    bias: torch.Tensor | None = None,
    prompt_width: int = 7,
    allow_empty: bool = True,
) -> list[tuple[str, bool]]:
    """Greedy decoding of random logits (plus ``bias``) through the processor, the way ``generate`` calls it: a
    batch whose rows share a padded prompt width. Returns each row's text and whether it ended with the stop token.
    """
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    processor = VerbatimLogitsProcessor(documents, tokenizer, [eos], allow_empty=allow_empty)
    rows = len(documents)
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((rows, prompt_width), pad, dtype=torch.long)
    ids[:, -1] = 1  # a non-pad prompt token; what the prompt holds does not matter to the processor
    done = torch.zeros(rows, dtype=torch.bool)
    for _ in range(steps):
        scores = torch.randn(rows, len(tokenizer), generator=generator)
        scores[:, eos] -= 2.0  # ending stays possible but does not win at once
        if bias is not None:
            scores += bias
        chosen = processor(ids, scores).argmax(-1)
        chosen[done] = pad
        done |= chosen == eos
        ids = torch.cat([ids, chosen[:, None]], dim=1)
        if done.all():
            break
    results = []
    for row in range(rows):
        generated = ids[row, prompt_width:].tolist()
        ended = eos in generated
        if ended:
            generated = generated[: generated.index(eos)]
        results.append((tokenizer.decode(generated, skip_special_tokens=True), ended))
    return results


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    documents=st.lists(st.text(alphabet=ALPHABET, min_size=1, max_size=60), min_size=1, max_size=3),
    seed=st.integers(0, 2**31 - 1),
    write_triplets=st.booleans(),
)
def test_random_logits_yield_verbatim_spans_and_known_categories(
    tokenizer, avoid_none, documents, seed, write_triplets
) -> None:
    bias = avoid_none if write_triplets else None
    results = decode_under_constraint(tokenizer, documents, seed, steps=60, bias=bias)
    for document, (text, ended) in zip(documents, results, strict=True):
        parsed = parse_output(text, document)
        kinds = {v.kind for v in parsed.violations}
        # Cut off by the step limit, the last triplet is truncated (and a cut category like "Sad" is a format note).
        assert kinds <= ({"duplicate"} if ended else {"duplicate", "truncated", "format"}), (text, parsed.violations)
        assert "format" not in kinds or all(
            v.kind != "format" or v.line == text.count("\n") + 1 for v in parsed.violations
        )
        for triplet in parsed.triplets:
            assert triplet.emotion in document and triplet.cause in document, (triplet, document)
            assert triplet.emotion_span is not None and triplet.cause_span is not None
            assert triplet.category in CATEGORIES


def test_rows_follow_their_own_document(tokenizer, avoid_none) -> None:
    """Both rows' logits favour row 0's words; row 1 may still only copy from its own document."""
    docs = ["the cat was angry about the rain", "我很高兴"]
    table = _token_table(tokenizer)
    bias = avoid_none.clone()
    bias[[i for i, data in enumerate(table.data) if data and data.strip() and data.strip() in docs[0].encode()]] += 50
    results = decode_under_constraint(tokenizer, docs, seed=0, steps=40, bias=bias)
    assert "cat" in results[0][0] or "rain" in results[0][0] or "angry" in results[0][0]  # the bias works
    assert results[1][0].startswith("(") and not any(word in results[1][0] for word in ("cat", "angry", "rain"))
    for doc, (text, _) in zip(docs, results, strict=True):
        parsed = parse_output(text, doc)
        assert not {v.kind for v in parsed.violations} - ALLOWED_VIOLATIONS
        assert parsed.triplets and all(t.emotion in doc and t.cause in doc for t in parsed.triplets)


def test_allow_empty_false_refuses_none_even_when_the_logits_want_it(tokenizer) -> None:
    """A bias towards "N" (the start of "None") wins when the empty answer is allowed, and cannot when it is not;
    a document with nothing a span could start on still answers "None"."""
    pieces = tokenizer.convert_ids_to_tokens(range(len(tokenizer)))
    want_none = torch.zeros(len(tokenizer))
    want_none[[i for i, piece in enumerate(pieces) if piece[:1] == "N"]] = 30.0
    docs = ["the cat was angry about the rain", "我很高兴", "   "]
    allowed = decode_under_constraint(tokenizer, docs, seed=1, steps=40, bias=want_none)
    assert [text for text, _ in allowed] == ["None", "None", "None"]
    refused = decode_under_constraint(tokenizer, docs, seed=1, steps=40, bias=want_none, allow_empty=False)
    for doc, (text, _) in zip(docs[:2], refused[:2], strict=True):
        parsed = parse_output(text, doc)
        assert text.startswith("(") and parsed.triplets, text
        assert all(t.emotion in doc and t.cause in doc for t in parsed.triplets)
    assert refused[2][0] == "None"
    with pytest.raises(ValueError, match=r"allow_empty=false needs eval\.constrained=true"):
        GenerationSettings(constrained=False, allow_empty=False)


def test_chinese_spans_never_start_or_end_inside_a_character(tokenizer) -> None:
    grammar = DocumentGrammar("他感到高兴。", _token_table(tokenizer))
    start = frozenset({("span", 0, None)})
    for token_id in grammar.allowed(start):
        first = grammar.table[token_id][0]  # type: ignore[index]
        assert not 0x80 <= first < 0xC0, "a span starting with a UTF-8 continuation byte"
    # After the first byte of 高 the span cannot be closed: ',' is not allowed until the character is whole.
    half = grammar.advance(start, "高".encode()[:1])
    assert half and all(grammar.table[i] != b"," for i in grammar.allowed(half))
    whole = grammar.advance(start, "高兴".encode())
    assert any(grammar.table[i] == b"," for i in grammar.allowed(whole))


def test_categories_come_from_the_label_set(tokenizer) -> None:
    grammar = DocumentGrammar("she was afraid", _token_table(tokenizer))
    states = grammar.advance(frozenset({("start", True)}), b"(afraid, she was, ")
    written = {grammar.table[i] for i in grammar.allowed(states)}
    names = [name.encode() for name in CATEGORY_DISPLAY.values()]
    assert written and all(any(name.startswith(w) for name in names) for w in written)  # type: ignore[arg-type]
    assert grammar.advance(states, b"Joy") == frozenset()
    assert grammar.advance(states, b"Fear)")


def test_generate_checks_constraint_inputs(tokenizer) -> None:
    prompts = [[{"role": "user", "content": "x"}]]
    constrained = GenerationSettings(max_new_tokens=2, constrained=True, progress=False)
    with pytest.raises(ValueError, match="needs the document text"):
        generate(None, tokenizer, prompts, constrained)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="output_format=lines only"):
        generate(None, tokenizer, prompts, constrained, documents=["x"], output_format="json")  # type: ignore[arg-type]


# ---- cause clauses: a cause copied only from clauses near its emotion's ----------------------------------------

NEAR_DOC = "昨天下雨了，考试通过了，我很高兴，后来朋友来看我，我们去吃饭。"  # clauses 0..4; 高兴 in clause 2


def _after(grammar: DocumentGrammar, written: str) -> frozenset:
    return grammar.advance(frozenset({("start", True)}), written.encode())


def _region_text(grammar: DocumentGrammar, states: frozenset) -> bytes:
    (region,) = {state[3] for state in states}
    return b"|".join(grammar.doc[lo:hi] for lo, hi in region)


def test_cause_clauses_keep_the_cause_near_its_emotion(tokenizer) -> None:
    grammar = DocumentGrammar(NEAR_DOC, _token_table(tokenizer), cause_clauses=(-1, 0))
    states = _after(grammar, "(高兴, ")
    assert _region_text(grammar, states) == "考试通过了，我很高兴".encode()
    allowed = grammar.allowed(states)
    assert allowed
    for token_id in allowed:  # every allowed token starts a cause inside clauses 1-2
        piece = grammar.table[token_id].split(b",")[0]  # type: ignore[union-attr]
        assert piece in "考试通过了，我很高兴".encode(), grammar.table[token_id]
    assert grammar.advance(states, "后来".encode()) == frozenset()  # clause 3
    assert grammar.advance(states, "昨天".encode()) == frozenset()  # clause 0
    assert grammar.advance(states, "高兴，后来".encode()) == frozenset()  # may not run past the region
    assert grammar.advance(states, "考试通过了, Happiness)".encode())
    # Off (the default): the far cause is accepted, and more tokens are allowed.
    free = DocumentGrammar(NEAR_DOC, _token_table(tokenizer))
    free_states = _after(free, "(高兴, ")
    assert free.advance(free_states, "我们去吃饭, Happiness)".encode())
    assert set(allowed) < set(free.allowed(free_states))
    assert _after(grammar, "(高兴, 我们去吃饭") == frozenset()


def test_cause_clauses_allow_the_windows_of_every_emotion_occurrence(tokenizer) -> None:
    document = "我很高兴，考试通过了，下雨了，天很冷，朋友来了，我又高兴了。"  # 高兴 in clauses 0 and 5
    grammar = DocumentGrammar(document, _token_table(tokenizer), cause_clauses=(0, 1))
    states = _after(grammar, "(高兴, ")
    assert _region_text(grammar, states) == "我很高兴，考试通过了|我又高兴了".encode()
    for cause in ("考试通过了", "我又高兴了", "我很高兴"):
        assert grammar.advance(states, f"{cause}, Happiness)".encode()), cause
    for cause in ("下雨了", "朋友来了", "天很冷"):
        assert grammar.advance(states, cause.encode()) == frozenset(), cause


def test_cause_clauses_outside_the_document_leave_the_cause_free(tokenizer) -> None:
    grammar = DocumentGrammar("我很高兴，下雨了。", _token_table(tokenizer), cause_clauses=(5,))
    states = _after(grammar, "(高兴, ")
    assert states == frozenset({("span", 1, None)})  # an empty region: unrestricted
    assert grammar.advance(states, "下雨了, Happiness)".encode())


def test_cause_clauses_setting_is_checked() -> None:
    eval_cfg = OmegaConf.load("conf/eval/default.yaml")
    assert GenerationSettings.from_config(eval_cfg).cause_clauses is None
    eval_cfg.constrained, eval_cfg.cause_clauses = True, [1, -1, 0, -2]
    assert GenerationSettings.from_config(eval_cfg).cause_clauses == (-2, -1, 0, 1)
    for bad in ("-1,0", 1, [], [0, "1"], [0, 1.5], [True], {"a": 1}):
        with pytest.raises(ValueError, match=r"eval\.cause_clauses: expected null or a list of integers"):
            GenerationSettings(constrained=True, cause_clauses=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"needs eval\.constrained=true"):
        GenerationSettings.from_config(OmegaConf.create({"cause_clauses": [-1, 0]}))


# ---- cause outside emotion: a cause may not overlap its emotion's text -----------------------------------------


def test_cause_outside_emotion_cuts_every_emotion_occurrence_out_of_the_cause(tokenizer) -> None:
    document = "丈夫的冷漠让她心灰意冷，她说心灰意冷的人不哭。"  # 心灰意冷 twice
    grammar = DocumentGrammar(document, _token_table(tokenizer), cause_outside_emotion=True)
    states = _after(grammar, "(心灰意冷, ")
    assert _region_text(grammar, states) == "丈夫的冷漠让她|，她说|的人不哭。".encode()
    assert grammar.advance(states, "丈夫的冷漠, Sadness)".encode())
    assert grammar.advance(states, "的人不哭, Sadness)".encode())
    for cause in ("丈夫的冷漠让她心灰意冷", "心灰意冷", "灰意", "她说心灰"):  # into either occurrence
        assert grammar.advance(states, cause.encode()) == frozenset(), cause
    # The emotion itself is unchanged: any document substring, and "None" stays allowed.
    assert _after(grammar, "(丈夫的冷漠让她心灰意冷, 她说, Sadness)")
    assert _after(grammar, "None")
    # Off (the default), the overlapping cause is accepted.
    free = DocumentGrammar(document, _token_table(tokenizer))
    assert _after(free, "(心灰意冷, 丈夫的冷漠让她心灰意冷, Sadness)")


def test_cause_outside_emotion_within_cause_clauses(tokenizer) -> None:
    grammar = DocumentGrammar(NEAR_DOC, _token_table(tokenizer), cause_clauses=(-1, 0), cause_outside_emotion=True)
    states = _after(grammar, "(高兴, ")
    assert _region_text(grammar, states) == "考试通过了，我很".encode()  # clause 2 ends at the emotion
    assert grammar.advance(states, "考试通过了, Happiness)".encode())
    assert grammar.advance(states, "我很高兴".encode()) == frozenset()
    assert grammar.advance(states, "后来".encode()) == frozenset()  # still the clause window
    # An emotion that fills its only allowed clause leaves nothing outside it: the uncut clause.
    whole = DocumentGrammar("我很高兴。", _token_table(tokenizer), cause_clauses=(0,), cause_outside_emotion=True)
    assert _region_text(whole, _after(whole, "(我很高兴, ")) == "我很高兴".encode()


def test_cause_outside_emotion_under_random_logits(tokenizer, avoid_none) -> None:
    """Whatever the logits, no decoded cause overlaps (or contains) its emotion's text."""
    docs = ["the cat was angry about the rain, angry at the cat", "我很高兴，高兴的孩子们看到了，真高兴。"]
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    checked = 0
    for seed in range(8):
        processor = VerbatimLogitsProcessor(docs, tokenizer, [eos], cause_outside_emotion=True)
        generator = torch.Generator().manual_seed(seed)
        ids = torch.full((2, 3), pad, dtype=torch.long)
        for _ in range(60):
            scores = torch.randn(2, len(tokenizer), generator=generator) + avoid_none
            scores[:, eos] -= 2.0
            ids = torch.cat([ids, processor(ids, scores).argmax(-1)[:, None]], dim=1)
        for doc, row in zip(docs, ids[:, 3:].tolist(), strict=True):
            row = row[: row.index(eos)] if eos in row else row
            for triplet in parse_output(tokenizer.decode(row, skip_special_tokens=True), doc).triplets:
                assert triplet.emotion not in triplet.cause and triplet.cause not in triplet.emotion, triplet
                checked += 1
    assert checked  # the random logits did write triplets


def test_cause_outside_emotion_setting_is_checked() -> None:
    eval_cfg = OmegaConf.load("conf/eval/default.yaml")
    assert GenerationSettings.from_config(eval_cfg).cause_outside_emotion is False
    eval_cfg.constrained, eval_cfg.cause_outside_emotion = True, True
    assert GenerationSettings.from_config(eval_cfg).cause_outside_emotion is True
    with pytest.raises(ValueError, match=r"cause_outside_emotion=true needs eval\.constrained=true"):
        GenerationSettings.from_config(OmegaConf.create({"cause_outside_emotion": True}))
    with pytest.raises(ValueError, match=r"eval\.cause_outside_emotion"):
        GenerationSettings.from_config(OmegaConf.create({"constrained": True, "cause_outside_emotion": "yes"}))


def test_a_repeated_triplet_line_ends_the_answer(tokenizer) -> None:
    """After a line it wrote before, the row may only stop; after a new line it may go on."""
    document = "the cat was angry about the rain"
    eos = tokenizer.eos_token_id

    def allowed_after(text: str) -> set[int]:
        processor = VerbatimLogitsProcessor([document], tokenizer, [eos])
        prompt = torch.ones((1, 3), dtype=torch.long)
        processor(prompt, torch.zeros(1, len(tokenizer)))  # the first call fixes the prompt width
        ids = torch.cat([prompt, torch.tensor([tokenizer.encode(text, add_special_tokens=False)])], dim=1)
        scores = processor(ids, torch.zeros(1, len(tokenizer)))
        return set(torch.nonzero(scores[0] == 0).flatten().tolist())

    line, other = "(angry, the rain, Anger)", "(angry, the cat, Anger)"
    newline = set(tokenizer.encode("\n", add_special_tokens=False))
    assert newline <= allowed_after(line) and eos in allowed_after(line)
    assert newline <= allowed_after(f"{line}\n{other}")
    assert allowed_after(f"{line}\n{line}") == {eos}
    assert allowed_after(f"{line}\n{other}\n{line}") == {eos}
