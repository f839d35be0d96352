"""The rule-based floor (``python -m ecct.baseline method=rules``): clauses, lexicon, cause rule, the run folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.baseline.rules import (
    Settings,
    cause_positions,
    learn_lexicon,
    predict,
    predict_all,
    split_clauses,
)
from ecct.data.model import Document, Span, Triplet
from ecct.report import main as report_main
from ecct.report import read_baseline


def _doc(doc_id: str, text: str, emotion: str, cause: str, category: str, language: str = "zh") -> Document:
    e, c = text.index(emotion), text.index(cause)
    triplet = Triplet(Span(e, e + len(emotion), emotion), Span(c, c + len(cause), cause), category)
    return Document(doc_id, text, language, "test", [triplet]).validate()


TRAIN = [
    _doc("t1", "他考试没有通过，心里很难过。", "难过", "他考试没有通过", "sadness"),
    _doc("t2", "早上下了大雨，路上堵车，她很难过。", "难过", "路上堵车", "sadness"),
    _doc("t3", "儿子考上了大学，母亲非常高兴。", "高兴", "儿子考上了大学", "happiness"),
    _doc("t4", "小狗丢了，他很着急，到处寻找。", "着急", "小狗丢了", "fear"),
]
PLAIN = Settings(min_count=1, min_precision=0.0, pick="longest", positions=1, fallback=False)


def test_clauses_are_verbatim_and_split_at_the_delimiters() -> None:
    text = "“他说，”我很高兴。 你呢？好；走：吧!"
    clauses = split_clauses(text, "zh")
    assert [c.text for c in clauses] == ["“他说", "”我很高兴", "你呢", "好", "走", "吧"]
    assert all(text[c.start : c.end] == c.text for c in clauses)
    assert [c.text for c in split_clauses(text, "zh", trim_quotes=True)][:2] == ["他说", "我很高兴"]
    english = "He lost 3.5 dollars , so he was sad . Then he left"
    assert [c.text for c in split_clauses(english, "en")] == ["He lost 3.5 dollars", "so he was sad", "Then he left"]
    with pytest.raises(ValueError, match="unknown language"):
        split_clauses(text, "fr")


def test_the_cause_position_is_learnt_and_the_rule_picks_the_previous_clause() -> None:
    positions = cause_positions(TRAIN)
    assert positions == {-1: 4}  # every training cause is in the clause before its emotion's
    lexicon = learn_lexicon(TRAIN)
    doc = Document("x", "天气很好，他们去了公园，玩得很高兴，然后回家。", "zh", "test")
    [triplet] = predict(doc, lexicon, [-1], PLAIN).triplets
    assert (triplet.emotion, triplet.cause, triplet.category) == ("高兴", "他们去了公园", "happiness")
    assert doc.text[triplet.cause_span.start : triplet.cause_span.end] == "他们去了公园"
    # An emotion in the first clause has no previous clause: no triplet, or (fallback) the next position learnt.
    first = Document("y", "他很难过，因为小狗丢了。", "zh", "test")
    assert predict(first, lexicon, [-1, 1], PLAIN).triplets == []
    [fallback] = predict(first, lexicon, [-1, 1], Settings(fallback=True)).triplets
    assert fallback.cause == "因为小狗丢了"


def test_the_lexicon_is_learnt_from_train_only_and_filtered_by_count_and_precision() -> None:
    lexicon = learn_lexicon(TRAIN)
    assert set(lexicon) == {"难过", "高兴", "着急"}
    assert (lexicon["难过"].count, lexicon["难过"].occurrences, lexicon["难过"].category) == (2, 2, "sadness")
    test = [_doc("u1", "听说公司倒闭了，他非常愤怒。", "愤怒", "听说公司倒闭了", "anger")]
    assert predict_all(test, lexicon, [-1], PLAIN)["u1"].triplets == []  # 愤怒 is a test-only keyword
    assert predict_all(test, learn_lexicon(test), [-1], PLAIN)["u1"].triplets  # ... found once it is learnt
    strict = Settings(min_count=2)
    doc = Document("z", "下雨了，他很高兴，又很难过。", "zh", "test")
    assert [t.emotion for t in predict(doc, lexicon, [-1], strict).triplets] == ["难过"]
    both = predict(doc, lexicon, [-1], Settings(pick="all", fallback=False)).triplets
    assert [(t.emotion, t.cause) for t in both] == [("高兴", "下雨了"), ("难过", "他很高兴")]


def test_on_the_real_corpus_spans_are_verbatim_and_test_only_keywords_never_predicted(data_dir: Path) -> None:
    from ecct.data.corpus import load_corpus

    cfg = OmegaConf.load(Path(__file__).resolve().parents[1] / "conf" / "data" / "gui2016.yaml")
    corpus = load_corpus(cfg, str(data_dir))
    train, test = corpus.part("train"), corpus.part("test")
    lexicon = learn_lexicon(train)
    test_only = {e.text for doc in test for e, _ in doc.emotions} - set(lexicon)
    assert test_only, "split20 #1 has emotion keywords found only in its test part"
    positions = cause_positions(train)
    assert positions.most_common(1)[0][0] == -1  # the clause before the emotion's, as the literature says
    ranked = [p for p, _ in positions.most_common()]
    results = predict_all(test, lexicon, ranked, Settings(pick="all", positions=2, fallback=True))
    predicted = [(doc, t) for doc in test for t in results[doc.id].triplets]
    assert len(predicted) > len(test) / 2
    for doc, triplet in predicted:
        assert triplet.emotion in lexicon and triplet.emotion not in test_only
        for text, span in ((triplet.emotion, triplet.emotion_span), (triplet.cause, triplet.cause_span)):
            assert span is not None and doc.text[span.start : span.end] == text


def test_the_cli_writes_a_baseline_run_folder_and_the_report_carries_the_floor(tmp_path: Path, run_module) -> None:
    run = tmp_path / "run"
    result = run_module("ecct.baseline", "method=rules", "logger=wandb", f"hydra.run.dir={run}", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("config.yaml", "versions.json", "metrics.json", "predictions.jsonl", "rules.json"):
        assert (run / name).exists(), name
    assert list((run / "wandb").glob("offline-run-*")), "no offline W&B run"
    metrics = json.loads((run / "metrics.json").read_text())
    for level in ("span", "word"):
        for unit in ("triplet", "pair", "emotion", "emotion_category", "cause"):
            assert 0.0 <= metrics[f"test/{level}/{unit}/f1"] <= 1.0
    assert metrics["method"] == "rules" and metrics["data/n_test"] == metrics["test/n_documents"] == 3
    assert metrics["rules/pick"] in ("longest", "precision", "all") and "rules/cause_position/-1" in metrics
    records = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 3 and all(
        set(r) == {"id", "text", "output", "triplets", "violations", "gold"} for r in records
    )
    assert OmegaConf.load(run / "config.yaml").method.name == "rules"

    # A multirun (the hydra.sweep.subdir resolver is registered) -> one "Rule-based floor" row beside the BERT one.
    sweep = tmp_path / "multirun"
    result = run_module(
        "ecct.baseline", "-m", "method=rules", "seed=1,2", "logger=none", f"hydra.sweep.dir={sweep}", timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "metrics.json").write_text(json.dumps({"test/span/triplet/f1": 0.05, "encoder": "e5"}))
    rows, failed = read_baseline([sweep, bert])
    assert [(row["label"], row["n"]) for row in rows] == [("Rule-based floor", 2), ("BERT baseline", 1)]
    assert failed == []
    jobs = tmp_path / "sweep"
    for i, prompt in enumerate(("desc", "full")):
        (jobs / f"{i}_prompt={prompt}" / ".hydra").mkdir(parents=True)
        (jobs / f"{i}_prompt={prompt}" / ".hydra" / "overrides.yaml").write_text(f"- prompt={prompt}\n")
        (jobs / f"{i}_prompt={prompt}" / "metrics.json").write_text(json.dumps({"test/span/triplet/f1": 0.1 * i}))
    out = tmp_path / "report"
    assert report_main([str(jobs), "--out", str(out), "--baseline", str(sweep), "--baseline", str(bert)]) == 0
    markdown = (out / "report.md").read_text()
    assert "| Rule-based floor | 2 |" in markdown and "| BERT baseline | 1 | 0.050 |" in markdown
    floor_row = next(line for line in markdown.splitlines() if line.startswith("| Rule-based floor | 2 |"))
    assert " ± " in floor_row  # two runs have a spread; one run's value stands alone
