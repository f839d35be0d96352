"""Predicted causes that overlap their own emotion span, and what cutting them at the emotion would score.

    python bench/cause_overlap.py outputs/cpu-bf16-240/s1 [outputs/cpu-bf16-240/s2 ...]

No gold cause of the Gui corpus overlaps its emotion span (0 of 1,730 training triplets), yet the CPU recipe writes
a few such causes (``丈夫的冷漠心灰意冷`` for ``丈夫的冷漠``). This measures the cheapest fix on a finished run's
``predictions.jsonl``, without decoding again: a cause that overlaps its emotion is cut to the text before the
emotion (84% of training causes precede their emotion), else to the text after it; clause delimiters and spaces
at the cut are dropped, and a triplet with nothing left is dropped. Both rows are scored by
``ecct.metrics.compute_metrics`` on span texts (what a run's ``metrics.json`` reports when its spans carry offsets
that select their text, as a training run's do).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ecct.data.model import Document, Span, Triplet
from ecct.metrics import compute_metrics
from ecct.output.formats import TextTriplet

CUT_STRIP = "，。！？；：,.!?; "


def _overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    return max(a["start"], b["start"]) < min(a["end"], b["end"])


def cut_at_emotion(text: str, triplet: dict[str, Any]) -> str:
    """The cause without its emotion span: the part before the emotion, else the part after ('' if neither)."""
    emotion, cause = triplet["emotion_span"], triplet["cause_span"]
    before = text[cause["start"] : emotion["start"]].strip(CUT_STRIP) if cause["start"] < emotion["start"] else ""
    after = text[emotion["end"] : cause["end"]].strip(CUT_STRIP) if cause["end"] > emotion["end"] else ""
    return before or after


def _gold_document(record: dict[str, Any]) -> Document:
    """The record's gold triplets as a Document (spans at their first occurrence: text matching ignores offsets)."""
    text = record["text"]

    def place(span: str) -> Span:
        start = max(text.find(span), 0)
        return Span(start, start + len(span), span)

    triplets = [Triplet(place(g["emotion"]), place(g["cause"]), g["category"]) for g in record["gold"]]
    return Document(id=str(record["id"]), text=text, language="zh", source="predictions", triplets=triplets)


def score(run_dir: Path) -> dict[str, float]:
    records = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    gold = [_gold_document(r) for r in records]
    as_is: dict[str, list[TextTriplet]] = {}
    cut: dict[str, list[TextTriplet]] = {}
    overlapping = dropped = 0
    for record in records:
        doc_id, text = str(record["id"]), record["text"]
        as_is[doc_id], cut[doc_id] = [], []
        for t in record["triplets"]:
            as_is[doc_id].append((t["emotion"], t["cause"], t["category"]))
            if not (t.get("emotion_span") and t.get("cause_span") and _overlaps(t["emotion_span"], t["cause_span"])):
                cut[doc_id].append((t["emotion"], t["cause"], t["category"]))
                continue
            overlapping += 1
            new_cause = cut_at_emotion(text, t)
            if new_cause:
                cut[doc_id].append((t["emotion"], new_cause, t["category"]))
            else:
                dropped += 1
    before = compute_metrics(gold, as_is)
    after = compute_metrics(gold, cut)
    return {
        "documents": len(records),
        "overlapping_causes": overlapping,
        "dropped": dropped,
        "triplet_f1": before["span/triplet/f1"],
        "triplet_f1_cut": after["span/triplet/f1"],
        "cause_f1": before["span/cause/f1"],
        "cause_f1_cut": after["span/cause/f1"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders holding predictions.jsonl")
    args = parser.parse_args()
    print("| run | docs | overlapping causes | dropped | triplet F1 as is | cut | cause F1 as is | cut |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        r = score(run)
        print(
            f"| {run} | {r['documents']} | {r['overlapping_causes']} | {r['dropped']} | {r['triplet_f1']:.3f} | "
            f"{r['triplet_f1_cut']:.3f} | {r['cause_f1']:.3f} | {r['cause_f1_cut']:.3f} |"
        )


if __name__ == "__main__":
    main()
