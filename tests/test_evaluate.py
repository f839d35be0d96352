"""``python -m ecct.evaluate``, run in-process on small files written to a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecct.data.errors import DataError
from ecct.data.model import Document, Triplet, find_span
from ecct.metrics import Prediction, compute_metrics
from ecct.output.formats import as_text_triplets, serialize
from ecct.output.records import load_predictions
from ecct.score import main

EN_TEXT = "I was afraid of spending the night alone . She was happy because the exam went well ."
ZH_TEXT = "他因为丢了钱包而很难过，后来找到了又很高兴。"


def make_doc(doc_id: str, text: str, language: str, triplets: list[tuple[str, str, str]]) -> Document:
    spans = [(find_span(text, e), find_span(text, c), k) for e, c, k in triplets]
    return Document(doc_id, text, language, "test", [Triplet(e, c, k) for e, c, k in spans]).validate().sorted()


GOLD = [
    make_doc(
        "en1",
        EN_TEXT,
        "en",
        [("afraid", "spending the night alone", "fear"), ("happy", "the exam went well", "happiness")],
    ),
    make_doc("zh1", ZH_TEXT, "zh", [("难过", "丢了钱包", "sadness"), ("高兴", "找到了", "happiness")]),
    make_doc("m", "He was angry at the noise .", "en", [("angry", "the noise", "anger")]),
]


def write_lines(path: Path, records: list) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def gold_file(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "gold.jsonl", [doc.to_dict() for doc in GOLD])


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_triplets_file_is_scored_and_metrics_written_beside_it(tmp_path, gold_file, capsys):
    en_pred = [
        {"emotion": "afraid", "cause": "spending the night alone", "category": "Fear"},
        {"emotion": "happy", "cause": "the exam went", "category": "happiness"},
        {"emotion": "afraid", "cause": "the night alone", "category": "sadness", "emotion_span": None},
    ]
    zh_pred = [
        {"emotion": {"text": "难过", "start": 9, "end": 11}, "cause": {"text": "丢了钱包而"}, "category": "sadness"},
        {"emotion": "高兴", "cause": "找到了", "category": "happiness"},
        {"emotion": "难过", "cause": "钱包", "category": "anger"},
    ]
    (tmp_path / "run").mkdir()
    predictions = write_lines(
        tmp_path / "run" / "predictions.jsonl",
        [
            {"id": "en1", "triplets": en_pred, "violations": [{"kind": "truncated", "detail": "", "line": 3}]},
            {"id": "zh1", "triplets": zh_pred, "text": "extra keys are ignored"},
        ],
    )
    rc, out, err = run(capsys, [predictions, "--gold", gold_file])
    assert rc == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))
    # triplet: en1 TP 1 FP 2 FN 1, zh1 TP 1 FP 2 FN 1, m (no line) FN 1: TP 2 FP 4 FN 3.
    # P = 2/6, R = 2/5, F1 = 2·(1/3)(2/5)/(11/15) = 4/11.
    assert metrics["span/triplet/precision"] == pytest.approx(1 / 3)
    assert metrics["span/triplet/recall"] == pytest.approx(2 / 5)
    assert metrics["span/triplet/f1"] == pytest.approx(4 / 11)
    assert (metrics["missing_predictions"], metrics["violations/truncated"], metrics["skipped_prediction_lines"]) == (
        1,
        1,
        0,
    )
    en_text_triplets = [(t["emotion"], t["cause"], t["category"]) for t in en_pred]
    zh_text_triplets = [("难过", "丢了钱包而", "sadness"), ("高兴", "找到了", "happiness"), ("难过", "钱包", "anger")]
    expected = compute_metrics(
        GOLD, {"en1": Prediction(en_text_triplets, ["truncated"]), "zh1": Prediction(zh_text_triplets)}
    )
    assert metrics.pop("span_match") == "text"  # the cause spans of zh1 give no offsets
    counts = {"offset_mismatches": 0, "skipped_documents": 0, "skipped_prediction_lines": 0}
    assert metrics == pytest.approx({**expected, **counts})
    assert "span P" in out and "triplet" in out and "metrics written to" in out


def test_raw_outputs_are_parsed_against_the_gold_text(tmp_path, gold_file, capsys):
    en_gold, zh_gold = (as_text_triplets(doc.triplets) for doc in GOLD[:2])
    predictions = write_lines(
        tmp_path / "outputs.jsonl",
        [
            {"id": "en1", "output": serialize(en_gold, "json")},
            # A record with both keys (as written during training) is scored from its triplets: here none.
            {"id": "zh1", "output": serialize(zh_gold, "json"), "triplets": []},
            {"id": "m", "output": '```json\n[{"emotion": "angry", "cause": "the noise", "category": "Anger"}]'},
        ],
    )
    out_file = tmp_path / "scores" / "m.json"
    rc, _, err = run(capsys, [predictions, "--gold", gold_file, "--format", "json", "--out", out_file])
    assert rc == 0, err
    metrics = json.loads(out_file.read_text(encoding="utf-8"))
    # en1 and m found (2 + 1 triplets), zh1 scored as empty: TP 3 FP 0 FN 2 -> P 1, R 3/5, F1 0.75.
    assert (metrics["span/triplet/precision"], metrics["span/triplet/recall"]) == (1.0, pytest.approx(0.6))
    assert metrics["span/triplet/f1"] == pytest.approx(0.75)
    assert metrics["errors/gold/found"] == 3 and metrics["empty_predictions"] == 1
    assert metrics["violations/format"] >= 1  # the unterminated Markdown fence around m's output
    assert not (tmp_path / "metrics.json").exists()


BAD_LINES = [
    ("{not json", "not valid JSON", "not json"),
    ("[1, 2]", "expected a JSON object", "not an object"),
    ('{"triplets": []}', "missing or invalid 'id'", "missing id"),
    ('{"id": "nope", "triplets": []}', "id 'nope' is not a gold document", "unknown id"),
    ('{"id": "en1", "triplets": []}', "repeated id 'en1' (first seen on line 1)", "repeated id"),
    ('{"id": "m"}', "needs 'triplets' or 'output'", "no prediction"),
    (
        '{"id": "m", "triplets": [{"emotion": "angry", "cause": "the noise", "category": "rage"}]}',
        "triplet 0: category 'rage' is not one of",
        "unknown category",
    ),
    (
        '{"id": "m", "triplets": [{"emotion": "angry", "category": "anger"}]}',
        "triplet 0: 'cause' must be a string",
        "bad triplet",
    ),
    ('{"id": "m", "output": 3}', "'output' must be a string", "bad output"),
    ('{"id": "m", "triplets": [], "violations": [3]}', "'violations' must be a list", "bad violations"),
]


@pytest.mark.parametrize(("line", "problem", "reason"), BAD_LINES, ids=[b[2] for b in BAD_LINES])
def test_a_bad_line_stops_the_run_naming_file_and_line(tmp_path, gold_file, capsys, line, problem, reason):
    predictions = write_lines(tmp_path / "p.jsonl", ['{"id": "en1", "triplets": []}', line])
    with pytest.raises(DataError) as caught:
        load_predictions(predictions, GOLD)
    assert caught.value.reason == reason
    rc, _, err = run(capsys, [predictions, "--gold", gold_file])
    assert rc == 2
    assert f"{predictions}: line 2: {problem}" in err
    assert not (tmp_path / "metrics.json").exists()


def test_lenient_skips_counts_and_reports_bad_lines(tmp_path, gold_file, capsys):
    lines = ['{"id": "m", "triplets": [{"emotion": "angry", "cause": "the noise", "category": "anger"}]}']
    lines += [line for line, _, reason in BAD_LINES if reason != "repeated id" and '"id": "m"' not in line]
    predictions = write_lines(tmp_path / "p.jsonl", lines)
    rc, _, err = run(capsys, [predictions, "--gold", gold_file, "--lenient"])
    assert rc == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["skipped_prediction_lines"] == 4
    assert "skipped 4 record(s)" in err and "unknown id" in err and "not json" in err
    # Only m was predicted (correctly): TP 1 FP 0 FN 4 -> P 1, R 1/5, F1 1/3.
    assert metrics["span/triplet/recall"] == pytest.approx(0.2)
    assert metrics["span/triplet/f1"] == pytest.approx(1 / 3)
    assert metrics["missing_predictions"] == 2


def test_bad_gold_and_missing_files_are_reported(tmp_path, gold_file, capsys):
    predictions = write_lines(tmp_path / "p.jsonl", ['{"id": "m", "triplets": []}'])
    bad_gold = write_lines(tmp_path / "bad_gold.jsonl", [GOLD[2].to_dict(), {"id": "x", "text": "hi"}])
    rc, _, err = run(capsys, [predictions, "--gold", bad_gold])
    assert rc == 2 and f"{bad_gold}: line 2" in err
    rc, _, err = run(capsys, [tmp_path / "absent.jsonl", "--gold", gold_file])
    assert rc == 2 and "absent.jsonl" in err
    undecodable = tmp_path / "latin1.jsonl"
    undecodable.write_bytes('{"id": "m", "triplets": [], "note": "caf\u00e9"}\n'.encode("latin-1"))
    rc, _, err = run(capsys, [undecodable, "--gold", gold_file])
    assert rc == 2 and f"{undecodable}: byte" in err and "not valid UTF-8" in err


# ---- issue 18: deep JSON, --out, offsets, Unicode normalisation --------------------------------------------------


def test_json_nested_too_deeply_is_a_bad_line_not_a_recursion_error(tmp_path, gold_file, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    good = {"id": "m", "triplets": [{"emotion": "angry", "cause": "the noise", "category": "anger"}]}
    preds = write_lines(tmp_path / "preds.jsonl", [good, deep])
    rc, _, _ = run(capsys, [preds, "--gold", gold_file, "--lenient"])
    assert rc == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["skipped_prediction_lines"] == 1
    rc, _, err = run(capsys, [preds, "--gold", gold_file])
    assert rc == 2 and "line 2: malformed JSON (nested too deeply to read)" in err


def test_out_that_is_a_folder_or_unwritable_is_a_clear_error(tmp_path, gold_file, capsys):
    good = {"id": "m", "triplets": [{"emotion": "angry", "cause": "the noise", "category": "anger"}]}
    preds = write_lines(tmp_path / "preds.jsonl", [good])
    rc, _, err = run(capsys, [preds, "--gold", gold_file, "--out", tmp_path])
    assert rc == 2 and "is a folder" in err and str(tmp_path) in err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    rc, _, err = run(capsys, [preds, "--gold", gold_file, "--out", blocker / "metrics.json"])
    assert rc == 2 and "cannot write the metrics there" in err


TWICE = "I was sad , then sad again ."


@pytest.fixture
def twice_gold(tmp_path: Path) -> Path:
    doc = Document(
        "t", TWICE, "en", "test", [Triplet(find_span(TWICE, "sad"), find_span(TWICE, "then"), "sadness")]
    ).validate()
    return write_lines(tmp_path / "twice.jsonl", [doc.to_dict()])


def test_offsets_are_used_when_both_sides_have_them(tmp_path, twice_gold, capsys):
    second_sad = TWICE.index("sad", 7)
    then = TWICE.index("then")
    place = {"text": "then", "start": then, "end": then + 4}
    right = {"emotion": {"text": "sad", "start": 6, "end": 9}, "cause": place, "category": "sadness"}
    other = {
        "emotion": {"text": "sad", "start": second_sad, "end": second_sad + 3},
        "cause": place,
        "category": "sadness",
    }
    shifted = {"emotion": {"text": "sad", "start": 7, "end": 10}, "cause": place, "category": "sadness"}
    expected = {"right": (1.0, 0), "other": (0.0, 0), "shifted": (0.0, 1)}
    for name, triplet in (("right", right), ("other", other), ("shifted", shifted)):
        preds = write_lines(tmp_path / f"{name}.jsonl", [{"id": "t", "triplets": [triplet]}])
        rc, out, _ = run(capsys, [preds, "--gold", twice_gold])
        metrics = json.loads((tmp_path / "metrics.json").read_text())
        assert rc == 0 and metrics["span_match"] == "offsets" and "matched by text and character offsets" in out
        assert (metrics["span/triplet/f1"], metrics["offset_mismatches"]) == expected[name], name
        assert metrics["word/emotion/f1"] == expected[name][0]  # the other "sad" does not overlap the gold one
    text_only = write_lines(tmp_path / "text.jsonl", [{"id": "t", "triplets": [{**other, "emotion": "sad"}]}])
    rc, out, _ = run(capsys, [text_only, "--gold", twice_gold])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["span_match"] == "text" and metrics["span/triplet/f1"] == 1.0


def test_an_ecct_predict_output_is_scored_by_text_with_its_header_and_skips(tmp_path, twice_gold, capsys):
    # emotion_span/cause_span are the parser's first-occurrence reading, not the model's: scored by text, as the
    # run's own metrics are. The header line is skipped; a skipped document counts as missing.
    then = TWICE.index("then")
    record = {
        "id": "t",
        "triplets": [
            {
                "emotion": "sad",
                "cause": "then",
                "category": "sadness",
                "emotion_span": {"start": 6, "end": 9, "text": "sad"},
                "cause_span": {"start": then, "end": then + 4, "text": "then"},
            },
            {"emotion": "glad", "cause": "now", "category": "happiness", "emotion_span": None, "cause_span": None},
        ],
    }
    preds = write_lines(tmp_path / "preds.jsonl", [{"ecct_predict": {"decoding": "constrained"}}, record])
    rc, _, _ = run(capsys, [preds, "--gold", twice_gold])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert rc == 0 and metrics["span_match"] == "text" and metrics["span/triplet/recall"] == 1.0
    skipped = write_lines(tmp_path / "skipped.jsonl", [{"id": "t", "skipped": "text cannot be encoded"}])
    rc, _, _ = run(capsys, [skipped, "--gold", twice_gold])
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert rc == 0 and metrics["skipped_documents"] == 1 and metrics["missing_predictions"] == 1


def test_unicode_is_nfc_normalised_on_both_sides():
    composed, decomposed = "Caf\u00e9 was closed .", "Cafe\u0301 was closed ."
    doc = Document(
        "u",
        composed,
        "en",
        "test",
        [Triplet(find_span(composed, "Caf\u00e9"), find_span(composed, "was closed"), "sadness")],
    )
    metrics = compute_metrics([doc.validate()], {"u": [("Cafe\u0301", "was closed", "sadness")]})
    assert metrics["span/triplet/f1"] == 1.0 and decomposed != composed
