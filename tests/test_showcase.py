"""The end-of-run examples: predicted vs gold triplets of a few test documents."""

from __future__ import annotations

from ecct.output.showcase import choose_examples, format_examples


def _record(doc_id: str, predicted: list[tuple[str, str, str]], gold: list[tuple[str, str, str]]) -> dict:
    def as_dicts(triplets: list[tuple[str, str, str]]) -> list[dict[str, str]]:
        return [{"emotion": e, "cause": c, "category": k} for e, c, k in triplets]

    text = "他很高兴，因为考上了大学。" * 3
    return {"id": doc_id, "text": text, "triplets": as_dicts(predicted), "gold": as_dicts(gold)}


HIT = ("高兴", "考上了大学", "Happiness")


def test_examples_alternate_hits_and_misses_and_skip_unlabelled() -> None:
    records = [
        _record("miss1", [("高兴", "考上了", "Happiness")], [HIT]),
        _record("unlabelled", [HIT], []),
        _record("miss2", [], [HIT]),
        _record("hit1", [("高兴", "考上了大学", "happiness")], [HIT]),  # category case does not matter
    ]
    assert [r["id"] for r in choose_examples(records, 3)] == ["hit1", "miss1", "miss2"]
    assert [r["id"] for r in choose_examples(records, 1)] == ["hit1"]


def test_format_marks_each_triplet() -> None:
    text = format_examples([_record("d1", [HIT, ("高兴", "他", "Anger")], [HIT, ("难过", "考上了大学", "Sadness")])], 5)
    assert "1 test document(s)" in text
    assert "[d1]" in text
    assert "predicted + (高兴, 考上了大学, Happiness)" in text
    assert "predicted - (高兴, 他, Anger)" in text
    assert "gold      + (高兴, 考上了大学, Happiness)" in text
    assert "gold      ? (难过, 考上了大学, Sadness)" in text
    assert "…" in format_examples([{**_record("long", [], [HIT]), "text": "字" * 500}], 1)
    # a long text is cut so that the gold emotion stays in view
    long_text = "字" * 400 + "他很高兴" + "字" * 400
    shown = format_examples([{**_record("far", [], [HIT]), "text": long_text}], 1).splitlines()[1]
    assert "高兴" in shown and shown.count("字") < 170 and shown.startswith("[far] …") and shown.endswith("…")
    assert format_examples([_record("u", [HIT], [])], 3) == "no labelled test documents to show"
