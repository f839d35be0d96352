"""ecct.metrics.semeval: the SemEval-2024 Task 3 Subtask 1 metric, against hand-worked numbers and the official
script's own output.

Every expected number below is worked out by hand in the comments; each hand-made case was also scored once with
the official ``CodaLab/evaluation/evaluate.py`` (github.com/NUSTM/SemEval-2024_ECAC at f605436, not vendored: it
is GPL-3.0), which printed the same numbers. The script smooths every denominator with 1e-8, so a perfect score
is 0.99999999..., hence ``approx`` with ``abs=1e-6`` where a hand value is exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ecct.data.model import Document
from ecct.data.readers import read_ecf, write_jsonl
from ecct.metrics import compute_metrics
from ecct.metrics.semeval import (
    clean_span,
    document_pairs,
    evaluate_subtask1,
    is_ecf_corpus,
    official_pairs,
    prediction_pairs,
    semeval_metrics,
    span_position,
)
from ecct.metrics.text import PlacedSpan
from ecct.output.formats import as_text_triplets
from ecct.score import main as score_main

ECF = "ecf2_semeval2024_task3/Subtask_1_train.json"


def conversation(conversation_id: int, utterances: list[tuple[str, str, str]], pairs: list[list[str]]) -> dict:
    """An ECF 2.0 record: utterances as (speaker, emotion, text)."""
    return {
        "conversation_ID": conversation_id,
        "conversation": [
            {"utterance_ID": i + 1, "text": text, "speaker": speaker, "emotion": emotion}
            for i, (speaker, emotion, text) in enumerate(utterances)
        ],
        "emotion-cause_pairs": pairs,
    }


def read(tmp_path: Path, *records: dict) -> list[Document]:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(list(records)), encoding="utf-8")
    return read_ecf(path).documents


def official(record: dict, pairs: list[list[str]]) -> dict:
    return evaluate_subtask1([{"conversation_ID": record["conversation_ID"], "emotion-cause_pairs": pairs}], [record])


# Gold: anger 3 pairs, joy 1 pair (weights 3/4 and 1/4). Cleaned gold spans: "You broke my phone again" (5
# tokens, utterance 1), "I paid for that phone myself" (6, utterance 3), "the movie tonight is free" (5, tokens 2-7).
ANGRY = conversation(
    1,
    [
        ("Ann", "anger", "You broke my phone again ."),
        ("Bob", "neutral", "It was already cracked , I swear ."),
        ("Ann", "anger", "I paid for that phone myself !"),
        ("Bob", "joy", "At least the movie tonight is free ."),
    ],
    [
        ["1_anger", "1_You broke my phone again ."],
        ["3_anger", "1_You broke my phone again ."],
        ["3_anger", "3_I paid for that phone myself !"],
        ["4_joy", "4_the movie tonight is free ."],
    ],
)
U1, U3, U4 = "You broke my phone again .", "I paid for that phone myself !", "At least the movie tonight is free ."
ANGRY_PREDICTION = [
    (U1, U1, "anger"),  # (1, 1, 0-5): correct
    (U1, "You broke my phone again", "anger"),  # the same row once cleaned: collapses
    (U3, "You broke my phone again", "anger"),  # (3, 1, 0-5): correct
    (U3, U3, "anger"),  # (3, 3, 0-6): correct
    (U3, "It was already cracked , I swear .", "anger"),  # (3, 2, 0-7): no such gold pair
    (U4, "At least the movie tonight is free", "happiness"),  # (4, 4, 0-7): gold is 2-7
]
ANGRY_OFFICIAL = [
    ["1_anger", "1_0_5"],
    ["3_anger", "1_0_5"],
    ["3_anger", "3_0_6"],
    ["3_anger", "2_0_7"],
    ["4_joy", "4_0_7"],
]


def test_weighted_average_uses_gold_shares_of_the_six_emotions(tmp_path):
    (doc,) = read(tmp_path, ANGRY)
    metrics = semeval_metrics([doc], {doc.id: ANGRY_PREDICTION})
    assert metrics["semeval/n_pred_pairs"] == 5 and metrics["semeval/n_gold_pairs"] == 4
    # Strict. anger: 3 correct of 4 predicted, 3 gold -> P 3/4, R 1, F1 6/7; joy: 0 of 1 -> F1 0.
    # Weighted: 3/4 * 6/7 + 1/4 * 0 = 9/14 = 0.642857. (Macro over anger and joy: 3/7; over the six: 1/7;
    # weights by predicted counts 4/5, 1/5: 24/35; micro: P 3/5, R 3/4 -> 2/3.)
    assert metrics["semeval/strict/w-avg-f1"] == pytest.approx(9 / 14, abs=1e-6)
    assert metrics["semeval/strict/w-avg-precision"] == pytest.approx(3 / 4 * 3 / 4, abs=1e-6)
    assert metrics["semeval/strict/w-avg-recall"] == pytest.approx(3 / 4, abs=1e-6)
    assert metrics["semeval/strict/micro-f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["semeval/strict/anger/f1"] == pytest.approx(6 / 7, abs=1e-6)
    assert metrics["semeval/strict/happiness/f1"] == 0.0 and metrics["semeval/strict/fear/f1"] == 0.0
    # Proportional, in tokens. anger: correct 5 + 5 + 6 = 16, predicted 16 + 7 = 23, gold 16 -> F1 32/39.
    # joy: overlap 5 of a 7-token prediction, gold 5 -> P 5/7, R 1, F1 5/6.
    # Weighted: 3/4 * 32/39 + 1/4 * 5/6 = 0.823718 (micro: 21 of 30 predicted, 21 gold -> 0.823529).
    assert metrics["semeval/proportional/w-avg-f1"] == pytest.approx(3 / 4 * 32 / 39 + 1 / 4 * 5 / 6, abs=1e-6)
    assert metrics["semeval/proportional/micro-f1"] == pytest.approx(2 * 0.7 / 1.7, abs=1e-6)
    # The same pairs given as the script's index rows score the same (the script printed 0.6428571373469388 and
    # 0.8237179432106756).
    scores = official(ANGRY, ANGRY_OFFICIAL)
    assert scores["strict"].w_avg_f1 == pytest.approx(0.6428571373469388, abs=1e-12)
    assert scores["proportional"].w_avg_f1 == pytest.approx(0.8237179432106756, abs=1e-12)
    assert metrics["semeval/proportional/w-avg-f1"] == pytest.approx(0.8237179432106756, abs=1e-12)


# Two gold spans for one (emotion utterance, cause utterance, emotion): "We lost" (tokens 0-2) and
# "lost the keys and then the" (1-7). The prediction "lost the keys" (1-4) overlaps them by 1 and 3 tokens.
LOST = conversation(
    2,
    [("Cara", "sadness", "We lost the keys and then the car broke down .")],
    [["1_sadness", "1_We lost"], ["1_sadness", "1_lost the keys and then the"]],
)
LOST_TEXT = "We lost the keys and then the car broke down ."


def test_proportional_credit_goes_to_the_best_overlap_ratio_then_the_longer_overlap(tmp_path):
    (doc,) = read(tmp_path, LOST)
    metrics = semeval_metrics([doc], {doc.id: [(LOST_TEXT, "lost the keys", "sadness")]})
    # Strict: no span equal -> 0.
    assert metrics["semeval/strict/w-avg-f1"] == 0.0
    # Both ratios are 1/2; the longer overlap (3 tokens, the 6-token span) wins. correct 3, predicted 3,
    # gold 6 (matched) + 2 ("We lost", unmatched) = 8 -> P 1, R 3/8, F1 6/11 = 0.545455.
    # (Ties to the first span: correct 1, P 1/3, R 1/8, F1 2/11; credit by pairs instead of tokens: 0.)
    assert metrics["semeval/proportional/w-avg-f1"] == pytest.approx(6 / 11, abs=1e-6)
    assert official(LOST, [["1_sadness", "1_1_4"]])["proportional"].w_avg_f1 == pytest.approx(0.5454545404958677)


FLIGHT = conversation(
    3,
    [("Dan", "neutral", "The plane leaves at six ."), ("Eve", "fear", "I have never flown before .")],
    [["2_fear", "2_I have never flown before ."]],
)
FLOWN = "I have never flown before ."


def test_emotion_utterance_and_category_must_agree_and_a_gold_span_may_be_credited_twice(tmp_path):
    (doc,) = read(tmp_path, FLIGHT)
    prediction = [
        (FLOWN, "I have never", "fear"),  # tokens 0-3 of the gold 0-5
        (FLOWN, "flown before", "fear"),  # tokens 3-5 of the same gold span
        (FLOWN, FLOWN, "sadness"),  # right span, wrong emotion
        ("The plane leaves at six .", "I have never flown before", "fear"),  # right span, wrong emotion utterance
    ]
    metrics = semeval_metrics([doc], {doc.id: prediction})
    # Strict: nothing equal -> 0 (the exact span comes with the wrong emotion or the wrong utterance).
    assert metrics["semeval/strict/w-avg-f1"] == 0.0
    # Proportional, fear (weight 1): correct 3 + 2 = 5; predicted 3 + 2 + 5 (wrong utterance) = 10; gold counted
    # once per matching prediction: 5 + 5 = 10 -> P = R = 1/2, F1 1/2. sadness has weight 0.
    assert metrics["semeval/proportional/w-avg-f1"] == pytest.approx(0.5, abs=1e-6)
    # micro: correct 5, predicted 15 (sadness too), gold 10 -> P 1/3, R 1/2, F1 0.4
    assert metrics["semeval/proportional/micro-f1"] == pytest.approx(0.4, abs=1e-6)
    rows = [["2_fear", "2_0_3"], ["2_fear", "2_3_5"], ["2_sadness", "2_0_5"], ["1_fear", "2_0_5"]]
    assert official(FLIGHT, rows)["proportional"].w_avg_f1 == pytest.approx(0.49999999450000004, abs=1e-12)


def test_span_helpers_mirror_the_script():
    assert clean_span("leg ?") == "leg" and clean_span("Rachel ? !") == "Rachel"
    assert clean_span("Instead of ...") == "Instead of" and clean_span(' "quoted" ') == "quoted"
    with pytest.raises(ValueError, match="empty once punctuation is stripped"):
        clean_span("? !")
    assert span_position("a b", "x a b a b") == (1, 3)  # the first whole-token occurrence
    assert span_position("a b", "xa b") == (0, 0)  # not a token sequence: the script's (0, 0)


def test_predictions_are_placed_in_utterances_and_cleaned_like_gold(tmp_path):
    (doc,) = read(tmp_path, ANGRY)
    gold = document_pairs(doc)
    assert [(p.emotion, p.cause, p.start, p.end, p.label) for p in gold] == [
        (1, 1, 0, 5, "anger"),
        (3, 1, 0, 5, "anger"),
        (3, 3, 0, 6, "anger"),
        (4, 4, 2, 7, "joy"),
    ]
    cut = prediction_pairs(doc, [(U3, "roke my phone", "anger")])  # cuts a word: the tokens it touches
    assert [(p.emotion, p.cause, p.start, p.end) for p in cut] == [(3, 1, 1, 4)]
    # Offsets, where given, place the span: "phone" of utterance 1 (by text, the one of utterance 3 is nearer).
    start, emotion = doc.text.index(U1) + 13, PlacedSpan(U3, doc.text.index(U3), doc.text.index(U3) + len(U3))
    placed = prediction_pairs(doc, [(emotion, PlacedSpan("phone", start, start + 5), "anger")])
    assert [(p.emotion, p.cause, p.start, p.end) for p in placed] == [(3, 1, 3, 4)]
    assert [(p.cause, p.start, p.end) for p in prediction_pairs(doc, [(U3, "phone", "anger")])] == [(3, 4, 5)]
    (misplaced,) = prediction_pairs(doc, [(emotion, PlacedSpan("phone", start - 4, start + 1), "anger")])
    assert misplaced.unplaced  # offsets that do not select the text place nothing
    (lost,) = prediction_pairs(doc, [(U1, "a cause nowhere in the text .", "fear")])
    assert lost.unplaced and (lost.start, lost.end, lost.label) == (0, 6, "fear")  # predicted, matches nothing
    metrics = semeval_metrics([doc], {doc.id: [(U1, "a cause nowhere in the text .", "anger")]})
    assert metrics["semeval/unplaced_predictions"] == 1 and metrics["semeval/strict/anger/f1"] == 0.0
    with pytest.raises(ValueError, match="category 'boredom'"):
        prediction_pairs(doc, [(U1, U1, "boredom")])


def test_bad_official_rows_and_documents_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="token indexes"):
        official(ANGRY, [["1_anger", "1_You broke my phone"]])
    with pytest.raises(ValueError, match="unknown emotion 'rage'"):
        official(ANGRY, [["1_rage", "1_0_5"]])
    with pytest.raises(ValueError, match="no prediction"):
        evaluate_subtask1([], [ANGRY])
    (doc,) = read(tmp_path, ANGRY)
    doc.meta = {}
    with pytest.raises(ValueError, match=r"meta\.utterances is missing"):
        document_pairs(doc)


def test_compute_metrics_adds_semeval_keys_for_ecf_gold_only(tmp_path):
    (doc,) = read(tmp_path, ANGRY)
    assert is_ecf_corpus([doc]) and not is_ecf_corpus([])
    metrics = compute_metrics([doc], {doc.id: ANGRY_PREDICTION})
    assert metrics["semeval/strict/w-avg-f1"] == pytest.approx(9 / 14, abs=1e-6)
    other = Document("d", "He was angry at the noise .", "en", "test")
    assert not any(key.startswith("semeval/") for key in compute_metrics([other], {}))


def test_score_command_reports_semeval_keys_for_an_ecf_prediction_file(tmp_path, capsys):
    gold = read(tmp_path, ANGRY, LOST)
    gold_file = tmp_path / "test.jsonl"
    write_jsonl(gold, gold_file)
    lines = [{"id": "1", "triplets": [{"emotion": e, "cause": c, "category": k} for e, c, k in ANGRY_PREDICTION]}]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert score_main([str(predictions), "--gold", str(gold_file)]) == 0
    assert "SemEval-2024 T3 S1:  w-avg F1 strict" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    # Conversation 2 is missing (empty): its 2 sadness gold pairs join the weights, 4 + 2 gold pairs in all.
    # Strict: anger 6/7 (weight 3/6), joy 0, sadness 0 -> 3/7.
    assert metrics["semeval/strict/w-avg-f1"] == pytest.approx(3 / 7, abs=1e-6)
    # Proportional: anger 32/39 (3/6), joy 5/6 (1/6), sadness 0 (2/6).
    assert metrics["semeval/proportional/w-avg-f1"] == pytest.approx(3 / 6 * 32 / 39 + 1 / 6 * 5 / 6, abs=1e-6)
    for key in ("semeval/strict/happiness/f1", "semeval/proportional/sadness/f1", "semeval/n_gold_pairs"):
        assert key in metrics


# ---- the real corpus ----------------------------------------------------------------------------------------

# CodaLab/submission/Subtask_1_pred.json of the source repository (f605436): the organisers' sample submission,
# on train conversations 1-5 and 12. Only its index rows are copied here (its utterance texts are the train
# file's). Scored against those six conversations of the staged Subtask_1_train.json, the official script wrote:
SAMPLE_ROWS = {
    1: [
        ["3_surprise", "1_21_27"],
        ["3_surprise", "3_0_12"],
        ["4_surprise", "1_21_27"],
        ["4_surprise", "3_0_14"],
        ["5_anger", "1_21_27"],
        ["5_anger", "3_0_14"],
        ["5_anger", "4_0_2"],
        ["5_anger", "5_0_3"],
    ],
    2: [["1_sadness", "1_0_22"], ["3_surprise", "3_0_1"]],
    3: [
        ["3_sadness", "3_2_20"],
        ["6_surprise", "4_14_20"],
        ["6_surprise", "5_2_14"],
        ["6_surprise", "6_0_1"],
        ["7_joy", "5_2_14"],
        ["7_joy", "6_0_1"],
        ["7_joy", "7_0_4"],
        ["9_anger", "5_2_11"],
        ["9_anger", "8_4_9"],
        ["9_anger", "9_0_5"],
    ],
    4: [],
    5: [["1_joy", "3_0_10"], ["3_joy", "3_0_10"]],
    12: [
        ["2_anger", "1_0_3"],
        ["9_surprise", "8_14_23"],
        ["9_surprise", "9_0_6"],
        ["9_surprise", "9_9_15"],
        ["9_surprise", "9_27_38"],
    ],
}
SAMPLE_SCORES = {  # scores.txt: weighted_strict_*, weighted_Proportional_*, strict_*, Proportional_*
    "strict": (0.7403846143509615, 0.730769229576923, 0.717948712037037, 0.7037037034430726, 0.7307692304881657),
    "proportional": (0.899140752718649, 0.791325695410615, 0.8078673414230111, 0.827102803699668, 0.7763157894396352),
}


@pytest.fixture(scope="module")
def train(data_dir: Path) -> tuple[list[dict], list[Document]]:
    path = data_dir / ECF
    if not path.is_file():
        pytest.skip(f"ECF 2.0 train file absent: {path}")
    return json.loads(path.read_text(encoding="utf-8")), read_ecf(path).documents


def test_the_organisers_sample_submission_scores_as_the_official_script_printed(train):
    records, _ = train
    gold = [r for r in records if r["conversation_ID"] in SAMPLE_ROWS]
    pred = [{"conversation_ID": i, "emotion-cause_pairs": rows} for i, rows in SAMPLE_ROWS.items()]
    scores = evaluate_subtask1(pred, gold)
    for mode, expected in SAMPLE_SCORES.items():
        s = scores[mode]
        got = (s.w_avg_precision, s.w_avg_recall, s.w_avg_f1, s.micro_precision, s.micro_recall)
        assert got == pytest.approx(expected, abs=1e-12), mode


def test_ecf_documents_give_the_scripts_gold_rows_and_score_one_against_themselves(train):
    records, documents = train
    by_id = {doc.id: doc for doc in documents}
    official_rows = {
        str(r["conversation_ID"]): {
            (row.emotion, row.cause, row.start, row.end, row.label)
            for row in official_pairs(r, str(r["conversation_ID"]), predicted=False)
        }
        for r in records
    }
    for doc_id, rows in official_rows.items():
        assert {(p.emotion, p.cause, p.start, p.end, p.label) for p in document_pairs(by_id[doc_id])} == rows
    placed = {
        doc.id: [
            (
                PlacedSpan(t.emotion.text, t.emotion.start, t.emotion.end),
                PlacedSpan(t.cause.text, t.cause.start, t.cause.end),
                t.category,
            )
            for t in doc.triplets
        ]
        for doc in documents
    }
    metrics = semeval_metrics(documents, placed)
    assert metrics["semeval/strict/w-avg-f1"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["semeval/proportional/w-avg-f1"] == pytest.approx(1.0, abs=1e-6)
    # By text alone (what a model writes) 150 of the 9,292 gold rows land elsewhere: 114 emotion utterances
    # whose text repeats in their conversation (the first equal utterance is taken) and 36 causes whose text
    # also occurs nearer the emotion utterance. That is the ceiling of a text-only output.
    text_only = semeval_metrics(documents, {doc.id: as_text_triplets(doc.triplets) for doc in documents})
    assert text_only["semeval/n_gold_pairs"] == 9292
    assert 0.98 < text_only["semeval/strict/w-avg-f1"] < 0.99


def test_a_perturbed_first_conversation_gives_the_hand_computed_scores(train):
    _, documents = train
    doc = next(d for d in documents if d.id == "1")
    utterance = {u["id"]: doc.text[u["start"] : u["end"]] for u in doc.meta["utterances"]}
    prediction = []
    for emotion, cause, category in as_text_triplets(doc.triplets):
        if cause == "I realize I am totally naked ." and emotion == utterance[3]:
            cause = "I realize I am totally"  # 5 of the 6 cleaned gold tokens
        if category == "anger" and cause == "Instead of ...":
            category = "disgust"
        prediction.append((emotion, cause, category))
    prediction.append((utterance[5], utterance[2], "anger"))  # no such pair; 7 tokens once cleaned
    metrics = semeval_metrics([doc], {doc.id: prediction})
    # Gold rows (cleaned token lengths): surprise 3->1 (6), 3->3 (14), 4->1 (6), 4->3 (14), 4->4 (2);
    # anger 5->1 (6), 5->3 (14), 5->4 (2). Weights 5/8, 3/8.
    # Strict: surprise 4 of 5 -> F1 0.8; anger 2 of 3 predicted, 3 gold -> 2/3; disgust 0 (weight 0).
    assert metrics["semeval/strict/w-avg-f1"] == pytest.approx(5 / 8 * 0.8 + 3 / 8 * 2 / 3, abs=1e-6)
    # Proportional: surprise correct 41, predicted 41, gold 42 -> F1 82/83;
    # anger correct 20, predicted 27, gold 20 + 2 (5->4, unmatched) -> P 20/27, R 10/11, F1 40/49.
    assert metrics["semeval/proportional/w-avg-f1"] == pytest.approx(5 / 8 * 82 / 83 + 3 / 8 * 40 / 49, abs=1e-6)
