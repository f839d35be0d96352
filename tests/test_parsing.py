"""ecct.output.parsing: every recovery and violation by hand, then random and adversarial text (hypothesis)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecct.data.model import CATEGORIES
from ecct.output.formats import CATEGORY_DISPLAY, FORMATS, serialize
from ecct.output.parsing import VIOLATION_KINDS, ParseResult, PredictedTriplet, Violation, parse_output

DOC = "As soon as it gets dark, I am afraid of spending the night alone, really."
AFRAID = ("afraid", "spending the night alone", "fear")


def kinds(result: ParseResult) -> list[str]:
    return [v.kind for v in result.violations]


# ---------------------------------------------------------------------------------------------------------------
# The API


def test_exact_output_reads_back_with_located_spans_and_no_violation():
    result = parse_output("(afraid, spending the night alone, Fear)", DOC)
    assert result.text_triplets == [AFRAID]
    assert result.violations == []
    triplet = result.triplets[0]
    assert isinstance(triplet, PredictedTriplet)
    assert triplet.as_text() == AFRAID
    assert DOC[triplet.emotion_span.start : triplet.emotion_span.end] == "afraid"
    assert DOC[triplet.cause_span.start : triplet.cause_span.end] == "spending the night alone"


def test_to_dict_is_json_serialisable_and_complete():
    result = parse_output("(afraid, spending the night alone, Fear)\n(scared, dark, Fear)\n(x, y, Love)", DOC)
    data = json.loads(json.dumps(result.to_dict()))
    assert [t["emotion"] for t in data["triplets"]] == ["afraid", "scared"]
    assert data["triplets"][0]["emotion_span"] == {"text": "afraid", "start": 30, "end": 36}
    assert data["triplets"][1]["emotion_span"] is None
    assert {v["kind"] for v in data["violations"]} == {"not_verbatim", "unknown_category"}
    assert all(set(v) == {"kind", "detail", "line"} for v in data["violations"])


def test_violation_kinds_are_the_documented_ones():
    assert VIOLATION_KINDS == ("format", "not_verbatim", "unknown_category", "duplicate", "truncated", "empty_span")
    assert Violation("format", "x").line is None


def test_unknown_format_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown output format"):
        parse_output("None", fmt="xml")


def test_without_document_no_span_is_located_and_nothing_is_called_not_verbatim():
    result = parse_output("(scared, of the dark, Fear)")
    assert result.text_triplets == [("scared", "of the dark", "fear")]
    assert result.triplets[0].emotion_span is None and result.triplets[0].cause_span is None
    assert result.violations == []


def test_cause_is_located_at_the_occurrence_nearest_the_emotion():
    doc = "the dark scares me. Later: I am afraid of the dark."
    result = parse_output("(afraid, the dark, Fear)", doc)
    emotion, cause = result.triplets[0].emotion_span, result.triplets[0].cause_span
    assert emotion.start == doc.index("afraid")
    assert cause.start == doc.rindex("the dark")  # not the first occurrence: the one next to "afraid"


# ---------------------------------------------------------------------------------------------------------------
# Empty outputs


@pytest.mark.parametrize("text", ["None", "none", "无", "  None\n", "```\nNone\n```"])
def test_empty_markers_mean_no_triplet(text):
    result = parse_output(text, DOC)
    assert result.triplets == []
    assert set(kinds(result)) <= {"format"}  # the fence, if any; never the marker itself
    assert not any("None" in v.detail for v in result.violations)


def test_json_empty_list_means_no_triplet():
    assert parse_output("[]", DOC, fmt="json").to_dict() == {"triplets": [], "violations": []}


@pytest.mark.parametrize("fmt", FORMATS)
def test_entirely_empty_output_is_a_format_violation(fmt):
    result = parse_output("  \n ", DOC, fmt=fmt)
    assert result.triplets == [] and kinds(result) == ["format"]
    assert "empty output" in result.violations[0].detail


def test_cross_format_empty_markers_are_format_violations():
    assert kinds(parse_output("None", DOC, fmt="json")) == ["format"]
    assert kinds(parse_output("[]", DOC, fmt="lines")) == ["format"]


def test_none_next_to_triplets_is_ignored_and_recorded():
    result = parse_output("None\n(afraid, spending the night alone, Fear)", DOC)
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["format"]


# ---------------------------------------------------------------------------------------------------------------
# Recoveries of the lines format (each one recorded as a format violation)


@pytest.mark.parametrize(
    "text",
    [
        "```\n(afraid, spending the night alone, Fear)\n```",
        "```text\n(afraid, spending the night alone, Fear)\n```",
        "Here are the triplets:\n(afraid, spending the night alone, Fear)",
        "1. (afraid, spending the night alone, Fear)",
        "- (afraid, spending the night alone, Fear)",
        "* (afraid, spending the night alone, Fear)",
        "（afraid，spending the night alone，Fear）",
        "(afraid，spending the night alone，Fear)",
        "('afraid', \"spending the night alone\", 'Fear')",
        "(“afraid”, “spending the night alone”, Fear)",
        "afraid, spending the night alone, Fear",
        "(afraid,spending the night alone,Fear)",
        "[afraid, spending the night alone, Fear]",
        "(Fear, afraid, spending the night alone)",
        "(afraid, Fear, spending the night alone)",
        "(afraid, spending the night alone, fear)",
        "(afraid, spending the night alone, scared)",
        "(afraid, spending the night alone, Fear) Hope this helps!",
    ],
)
def test_recoverable_lines_output_gives_the_triplet_and_a_format_violation(text):
    result = parse_output(text, DOC)
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["format"]
    assert all(triplet.emotion_span and triplet.cause_span for triplet in result.triplets)


def test_format_violations_name_the_fragment_and_the_line():
    result = parse_output("(x, y, Fear)\n1. ('afraid', spending the night alone, Fear)", DOC)
    violation = next(v for v in result.violations if v.kind == "format")
    assert violation.line == 2
    assert "list marker '1.' removed" in violation.detail and "quotes around the emotion span" in violation.detail


def test_permuted_numbered_line_with_category_in_the_middle():
    doc = "As soon as it gets dark, I become afraid of spending the night alone."
    text = "1. afraid of spending the night alone, 'Fear', 'As soon as it gets dark'"
    result = parse_output(text, doc)
    assert result.text_triplets == [("afraid of spending the night alone", "As soon as it gets dark", "fear")]
    assert kinds(result) == ["format"]
    for note in ("list marker", "missing parentheses", "between the spans", "quotes around the cause"):
        assert note in result.violations[0].detail


def test_several_triplets_on_one_line():
    text = "(afraid, spending the night alone, Fear), (afraid, As soon as it gets dark, Fear)"
    result = parse_output(text, DOC)
    assert result.text_triplets == [AFRAID, ("afraid", "As soon as it gets dark", "fear")]
    assert kinds(result) == ["format"]
    assert "2 triplets on one line" in result.violations[0].detail


def test_json_output_when_lines_were_expected_and_vice_versa():
    as_json = serialize([AFRAID], fmt="json")
    as_lines = serialize([AFRAID], fmt="lines")
    for text, fmt in ((as_json, "lines"), (as_lines, "json")):
        result = parse_output(text, DOC, fmt=fmt)
        assert result.text_triplets == [AFRAID]
        assert kinds(result) == ["format"]


def test_missing_closing_parenthesis_before_more_output_is_recovered():
    text = "(afraid, spending the night alone, Fear\n(afraid, As soon as it gets dark, Fear)"
    result = parse_output(text, DOC)
    assert result.text_triplets == [AFRAID, ("afraid", "As soon as it gets dark", "fear")]
    assert kinds(result) == ["format"]


def test_parentheses_inside_spans_do_not_end_the_triplet():
    doc = "Monica (laughing) : I am so happy for you , really ."
    text = "(Monica (laughing) : I am so happy for you , really ., happy for you, Joy)"
    result = parse_output(text, doc)
    assert result.text_triplets == [
        ("Monica (laughing) : I am so happy for you , really .", "happy for you", "happiness")
    ]
    assert kinds(result) == ["format"]  # only the category variant 'Joy'


def test_prose_without_any_triplet_is_recorded_not_read():
    result = parse_output("I could not find any emotion in this text, sorry.", DOC)
    assert result.triplets == []
    assert kinds(result) == ["format"]


# ---------------------------------------------------------------------------------------------------------------
# Categories


@pytest.mark.parametrize(
    ("written", "category"),
    [
        ("Happiness", "happiness"), ("joy", "happiness"), ("Joy", "happiness"), ("happy", "happiness"),
        ("喜悦", "happiness"), ("快乐", "happiness"), ("高兴", "happiness"),
        ("SADNESS", "sadness"), ("sad", "sadness"), ("悲伤", "sadness"),
        ("anger", "anger"), ("angry", "anger"), ("愤怒", "anger"),
        ("afraid", "fear"), ("scared", "fear"), ("恐惧", "fear"),
        ("disgusted", "disgust"), ("厌恶", "disgust"),
        ("surprised", "surprise"), ("Surprise.", "surprise"), ("惊讶", "surprise"),
    ],
)  # fmt: skip
def test_category_variants_map_to_the_canonical_six(written, category):
    for fmt, text in (
        ("lines", f"(afraid, spending the night alone, {written})"),
        ("json", json.dumps([{"emotion": "afraid", "cause": "spending the night alone", "category": written}])),
    ):
        result = parse_output(text, DOC, fmt=fmt)
        assert result.text_triplets == [("afraid", "spending the night alone", category)]
        exact = written == CATEGORY_DISPLAY[category]
        assert kinds(result) == ([] if exact else ["format"])


@pytest.mark.parametrize("written", ["Love", "neutral", "", "Fearful-ish", "Fe"])
def test_unknown_category_drops_the_triplet_and_is_counted(written):
    result = parse_output(
        f"(afraid, spending the night alone, {written})\n(afraid, As soon as it gets dark, Fear)", DOC
    )
    assert result.text_triplets == [("afraid", "As soon as it gets dark", "fear")]
    assert kinds(result) == ["unknown_category"]
    assert result.violations[0].line == 1


def test_every_canonical_category_round_trips():
    triplets = [("afraid", "dark", c) for c in CATEGORIES]
    doc = "afraid of the dark"
    for fmt in FORMATS:
        result = parse_output(serialize(triplets, fmt=fmt), doc, fmt=fmt)
        assert result.text_triplets == triplets and result.violations == []


# ---------------------------------------------------------------------------------------------------------------
# Verbatim checks


def test_a_span_not_in_the_document_is_kept_unlocated():
    result = parse_output("(scared, spending the night alone, Fear)", DOC)
    assert result.text_triplets == [("scared", "spending the night alone", "fear")]
    assert result.triplets[0].emotion_span is None and result.triplets[0].cause_span is not None
    assert kinds(result) == ["not_verbatim"]
    assert "'scared'" in result.violations[0].detail


def test_trailing_punctuation_is_stripped_and_recorded():
    result = parse_output("(afraid, spending the night alone., Fear)", DOC)
    assert result.text_triplets == [AFRAID]
    assert result.triplets[0].cause_span is not None
    assert kinds(result) == ["not_verbatim"]
    assert result.violations[0].detail.startswith("recovered cause span")


def test_json_whitespace_around_a_span_is_stripped_and_recorded():
    text = json.dumps([{"emotion": "\tafraid ", "cause": "spending the night alone", "category": "Fear"}])
    result = parse_output(text, DOC, fmt="json")
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["not_verbatim"]


def test_quotes_that_are_part_of_the_document_are_kept():
    doc = "他说：“我很高兴”，然后笑了。"
    result = parse_output("(高兴, “我很高兴”, Happiness)", doc)
    assert result.text_triplets == [("高兴", "“我很高兴”", "happiness")]
    assert result.violations == []


@pytest.mark.parametrize("text", ["(afraid, , Fear)", "(, spending the night alone, Fear)", "('', x, Fear)"])
def test_empty_spans_are_dropped_and_recorded(text):
    result = parse_output(text, DOC)
    assert result.triplets == []
    assert "empty_span" in kinds(result)


def test_duplicates_are_removed_and_recorded():
    text = "(afraid, spending the night alone, Fear)\n(afraid, spending the night alone, Fear)\n(afraid, dark, Fear)"
    result = parse_output(text, DOC)
    assert result.text_triplets == [AFRAID, ("afraid", "dark", "fear")]
    assert kinds(result) == ["duplicate"]
    assert result.violations[0].line == 2


# ---------------------------------------------------------------------------------------------------------------
# Truncation


def test_truncated_lines_keep_the_complete_triplets():
    result = parse_output("(afraid, spending the night alone, Fear)\n(afraid, As soon as it", DOC)
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["truncated"]
    assert result.violations[0].line == 2


def test_truncated_right_before_the_closing_parenthesis_keeps_the_triplet():
    result = parse_output("(afraid, spending the night alone, Fear", DOC)
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["truncated"]


def test_truncated_inside_the_category_drops_the_triplet():
    result = parse_output("(afraid, As soon as it gets dark, Fear)\n(afraid, spending the night alone, Surpr", DOC)
    assert result.text_triplets == [("afraid", "As soon as it gets dark", "fear")]
    assert kinds(result) == ["truncated"]


@pytest.mark.parametrize(
    "cut",
    ['[{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}, {"emotion": "afr',
     '[{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}, {"emotion": "x"',
     '[{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"},'],
)  # fmt: skip
def test_truncated_json_keeps_the_complete_objects(cut):
    result = parse_output(cut, DOC, fmt="json")
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["truncated"]


# ---------------------------------------------------------------------------------------------------------------
# JSON recoveries


@pytest.mark.parametrize(
    "text",
    [
        '```json\n[{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}]\n```',
        'Sure! Here is the JSON:\n[{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}]',
        '{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}',
        '{"triplets": [{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}]}',
        '[["afraid", "spending the night alone", "Fear"]]',
        '[{"Emotion": "afraid", "Cause": "spending the night alone", "Category": "Fear"}]',
        '[{"emotion": "\'afraid\'", "cause": "spending the night alone", "category": "Fear"}]',
    ],
)
def test_recoverable_json_output(text):
    result = parse_output(text, DOC, fmt="json")
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["format"]


def test_json_lines_one_object_per_line_are_all_read():
    text = (
        '{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}\n'
        '{"emotion": "afraid", "cause": "dark", "category": "Fear"}'
    )
    result = parse_output(text, DOC, fmt="json")
    assert result.text_triplets == [AFRAID, ("afraid", "dark", "fear")]
    assert kinds(result) == ["format", "format"]
    assert [v.line for v in result.violations] == [1, 2]


def test_malformed_json_items_are_skipped_and_the_rest_read():
    text = (
        '[{"emotion": "afraid" "cause": "x", "category": "Fear"}, '
        '{"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"}, '
        '{"emotion": 3, "cause": "x", "category": "Fear"}, {"feeling": "afraid"}, '
        '{"emotion": "afraid", "cause": "dark", "category": "Love"}]'
    )
    result = parse_output(text, DOC, fmt="json")
    assert result.text_triplets == [AFRAID]
    assert kinds(result) == ["format", "format", "format", "unknown_category"]


# ---------------------------------------------------------------------------------------------------------------
# Commas inside spans


def test_document_decides_where_the_emotion_ends_when_spans_hold_commas():
    doc = "Then I look down , and I realize there is a phone ... there . I realize I am totally naked ."
    emotion = "Then I look down , and I realize there is a phone ... there ."
    triplets = [(emotion, "I realize I am totally naked .", "surprise"), (emotion, "and I realize", "surprise")]
    text = serialize(triplets)
    result = parse_output(text, doc)
    assert result.text_triplets == triplets and result.violations == []


def test_without_a_document_the_first_glued_comma_space_splits():
    # ", " right after a non-space is what serialize writes; " , " is tokenised text inside a span.
    assert parse_output("(look down , and I realize, phone, Surprise)").text_triplets == [
        ("look down , and I realize", "phone", "surprise")
    ]
    assert parse_output("(a, b, c, Fear)").text_triplets == [("a", "b, c", "fear")]
    # Quoted spans: the comma between a closing and an opening quote.
    assert parse_output("('a, b', 'c', Fear)").text_triplets == [("a, b", "c", "fear")]


def test_with_a_document_the_verbatim_split_wins():
    doc = "x a, b y c z"
    assert parse_output("(a, b, c, Fear)").text_triplets == [("a", "b, c", "fear")]
    assert parse_output("(a, b, c, Fear)", doc).text_triplets == [("a, b", "c", "fear")]


def test_truly_ambiguous_split_is_decided_by_the_documented_order():
    doc = "a, b, c"  # both (a | b, c) and (a, b | c) are verbatim
    result = parse_output("(a, b, c, Fear)", doc)
    assert result.text_triplets == [("a", "b, c", "fear")] and result.violations == []


def test_chinese_full_width_commas_in_spans_and_as_separators():
    doc = "该女子是由于对方拖欠工程款，家中又急需用钱，生活压力大，无奈才选择跳楼轻生。"
    exact = serialize([("无奈", "家中又急需用钱，生活压力大", "sadness")])
    assert parse_output(exact, doc).text_triplets == [("无奈", "家中又急需用钱，生活压力大", "sadness")]
    assert parse_output(exact, doc).violations == []
    loose = parse_output("（无奈，家中又急需用钱，生活压力大，悲伤）", doc)
    assert loose.text_triplets == [("无奈", "家中又急需用钱，生活压力大", "sadness")]
    assert kinds(loose) == ["format"]


# ---------------------------------------------------------------------------------------------------------------
# Property tests: never raises, invariants hold


def check_invariants(text: str, document: str | None, fmt: str) -> ParseResult:
    result = parse_output(text, document, fmt=fmt)
    assert isinstance(result, ParseResult)
    json.dumps(result.to_dict())
    for violation in result.violations:
        assert violation.kind in VIOLATION_KINDS
        assert isinstance(violation.detail, str) and violation.detail
        assert "parser error" not in violation.detail, violation.detail
    seen = set()
    for triplet in result.triplets:
        assert triplet.category in CATEGORIES
        assert triplet.emotion and triplet.cause
        assert triplet.as_text() not in seen
        seen.add(triplet.as_text())
        for span, text_ in ((triplet.emotion_span, triplet.emotion), (triplet.cause_span, triplet.cause)):
            if span is not None:
                assert document is not None
                assert document[span.start : span.end] == span.text == text_
            elif document is not None:
                assert any(text_ in v.detail or "not in the document" in v.detail for v in result.violations)
    return result


PIECES = [
    "a", "b", "dark", " ", ",", ", ", " , ", "，", "、", ".", "。", "'", '"', "“", "”", "(", ")", "（", "）",
    "[", "]", "{", "}", ":", "\n", "\\", "Fear", "joy", "Sad", "悲伤", "None", "无", "```", "1. ", "- ",
    '"emotion": ', "😀", "\u200b", "\t",
]  # fmt: skip
fragments = st.lists(st.sampled_from(PIECES), max_size=8).map("".join)
documents = st.one_of(st.none(), st.lists(st.sampled_from(PIECES), max_size=20).map("".join), st.just(DOC))


@st.composite
def near_valid_outputs(draw) -> tuple[str, str | None]:
    """Outputs close to the format: real or random spans, every known deviation, cut at a random point."""
    document = draw(documents)
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        pool = [fragments]
        if document:
            pool.append(st.builds(lambda i, j: document[min(i, j) : max(i, j)], st.integers(0, 60), st.integers(0, 60)))
        emotion, cause = draw(st.one_of(pool)), draw(st.one_of(pool))
        category = draw(st.sampled_from([*CATEGORY_DISPLAY.values(), "joy", "悲伤", "Love", "", "fear."]))
        style = draw(st.sampled_from(["plain", "quoted", "fullwidth", "bare", "permuted", "json", "list", "open"]))
        line = {
            "plain": f"({emotion}, {cause}, {category})",
            "quoted": f"('{emotion}', \"{cause}\", '{category}')",
            "fullwidth": f"（{emotion}，{cause}，{category}）",
            "bare": f"{emotion}, {cause}, {category}",
            "permuted": f"{emotion}, '{category}', '{cause}'",
            "json": json.dumps({"emotion": emotion, "cause": cause, "category": category}, ensure_ascii=False),
            "list": json.dumps([emotion, cause, category], ensure_ascii=False),
            "open": f"({emotion}, {cause}, {category}",
        }[style]
        prefix = draw(st.sampled_from(["", "1. ", "- ", "* ", "2) ", "[", ", "]))
        lines.append(prefix + line)
    joiner = draw(st.sampled_from(["\n", " ", ", ", "\r\n", ""]))
    text = joiner.join(lines)
    wrapper = draw(st.sampled_from(["{}", "```\n{}\n```", "Here are the triplets:\n{}", "[{}]", "None\n{}"]))
    text = wrapper.replace("{}", text, 1)
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text, document


FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=20_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(text=st.text(), document=st.one_of(st.none(), st.text()), fmt=st.sampled_from(FORMATS))
def test_any_unicode_string_parses_without_raising(text, document, fmt):
    check_invariants(text, document, fmt)


@FAST
@given(case=near_valid_outputs(), fmt=st.sampled_from(FORMATS))
def test_near_valid_outputs_parse_without_raising(case, fmt):
    check_invariants(*case, fmt)


@pytest.mark.slow
@SLOW
@given(case=near_valid_outputs(), fmt=st.sampled_from(FORMATS))
def test_near_valid_outputs_parse_without_raising_long_run(case, fmt):
    check_invariants(*case, fmt)


@pytest.mark.slow
@SLOW
@given(text=st.text(), document=st.one_of(st.none(), st.text()), fmt=st.sampled_from(FORMATS))
def test_any_unicode_string_parses_without_raising_long_run(text, document, fmt):
    check_invariants(text, document, fmt)


def test_adversarial_long_inputs_keep_the_invariants():
    # Shapes that make naive bracket matching or backtracking regexes quadratic or worse (they would hang here).
    shapes = [
        "(" * 5000 + ")" * 5000,
        "()" * 5000,
        "(a, " * 3000,
        ", " * 5000 + "Fear)",
        "[{" * 3000,
        '"' * 5000,
        "1. " * 3000,
        "(a, b, Fear" + ")" * 5000,
        "('" + ", " * 3000,
        "[" + '{"emotion": "a",' * 2000,
    ]
    for text in shapes:
        for fmt in FORMATS:
            check_invariants(text, DOC, fmt)


# ---------------------------------------------------------------------------------------------------------------
# Property test: serialize -> parse round-trips


DOC_PIECES = ["a", "b", "cd", " ", ",", ", ", " , ", "，", ".", "'", '"', "Fear", "joy", "情", "None", "-", "1"]


@st.composite
def documents_with_triplets(draw, lines_safe: bool) -> tuple[str, list[tuple[str, str, str]]]:
    """A random document and triplets whose spans are substrings of it (stripped, single-line for ``lines``)."""
    pieces = DOC_PIECES if lines_safe else [*DOC_PIECES, "(", ")", "\n", "[", "{", "\\", "  "]
    document = "".join(draw(st.lists(st.sampled_from(pieces), min_size=1, max_size=25)))

    def span() -> str:
        i, j = sorted(draw(st.tuples(st.integers(0, len(document)), st.integers(0, len(document)))))
        text = document[i:j]
        return text.strip() if lines_safe else text

    triplets = []
    for _ in range(draw(st.integers(0, 5))):
        emotion, cause = span(), span()
        if emotion and cause:
            triplets.append((emotion, cause, draw(st.sampled_from(CATEGORIES))))
    return document, triplets


def verbatim_splits(document: str, emotion: str, cause: str) -> list[tuple[str, str]]:
    """Every (left, right) reading of ``emotion, cause`` at a comma whose two parts are both in ``document``."""
    head = f"{emotion}, {cause}"
    readings = []
    for p, ch in enumerate(head):
        left, right = head[:p].strip(), head[p + 1 :].strip()
        if ch in ",，" and left and right and left in document and right in document:
            readings.append((left, right))
    return readings


def unique(triplets):
    return list(dict.fromkeys(triplets))


@FAST
@given(case=documents_with_triplets(lines_safe=False))
def test_json_round_trip_is_exact(case):
    document, triplets = case
    result = parse_output(serialize(triplets, fmt="json"), document, fmt="json")
    assert result.text_triplets == unique(triplets)
    assert kinds(result) == ["duplicate"] * (len(triplets) - len(unique(triplets)))
    assert all(t.emotion_span and t.cause_span for t in result.triplets)


@FAST
@given(case=documents_with_triplets(lines_safe=True))
def test_lines_round_trip_is_exact_unless_truly_ambiguous(case):
    document, triplets = case
    result = parse_output(serialize(triplets, fmt="lines"), document, fmt="lines")
    assert set(kinds(result)) <= {"duplicate"}
    assert all(t.emotion_span and t.cause_span for t in result.triplets)
    if all(len(verbatim_splits(document, e, c)) == 1 for e, c, _ in triplets):
        assert result.text_triplets == unique(triplets)
        assert len(result.violations) == len(triplets) - len(unique(triplets))
    else:  # several verbatim readings: the parser returns one of them, deterministically
        for emotion, cause, category in result.text_triplets:
            assert emotion in document and cause in document and category in CATEGORIES
        assert parse_output(serialize(triplets), document).to_dict() == result.to_dict()


def test_lines_output_is_free_of_regex_special_cases():
    # A span that looks like a list marker, an empty marker or a fence stays a span inside its parentheses.
    document = "1. None ``` - [x]"
    triplets = [("1.", "None", "fear"), ("```", "- [x]", "happiness")]
    result = parse_output(serialize(triplets), document)
    assert result.text_triplets == triplets and result.violations == []
    assert re.fullmatch(r"\(1\., None, Fear\)\n\(```, - \[x\], Happiness\)", serialize(triplets))
