"""Predicted causes that overlap their own emotion span, and what cutting them at the emotion would score.

    python bench/cause_overlap.py outputs/cpu-bf16-240/s1 [outputs/cpu-bf16-240/s2 ...]

No gold cause of the Gui corpus overlaps its emotion span (0 of 1,730 training triplets), yet the CPU recipe writes
a few such causes (``丈夫的冷漠心灰意冷``, emotion ``心灰意冷``, gold cause ``丈夫的冷漠``). This measures the
cheapest fix on a finished run's ``predictions.jsonl``, without decoding again: a cause that overlaps its emotion
is cut to the text before the emotion (84% of training causes precede their emotion), else to the text after it;
clause delimiters and spaces at the cut are dropped, and a triplet with nothing left is dropped. Both rows are
counted per document with the metrics' own matcher (``ecct.metrics.document_counts``, as ``ecct.runs.predictions``
does); the as-is counts are checked against the run's ``metrics.json``. The decoding constraint that does this
while decoding is ``eval.cause_outside_emotion`` (``bench/redecode_narrowed.py`` scores it).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ecct.inference.inputs import guess_language
from ecct.metrics import document_counts
from ecct.metrics.scoring import prf
from ecct.output.formats import TextTriplet
from ecct.runs.predictions import PREDICTIONS_FILE, check_totals

CUT_STRIP = "，。！？；：,.!?; "


def _overlaps(a: dict[str, int], b: dict[str, int]) -> bool:
    return max(a["start"], b["start"]) < min(a["end"], b["end"])


def cut_at_emotion(text: str, triplet: dict[str, Any]) -> str:
    """The cause without its emotion span: the part before the emotion, else the part after ('' if neither)."""
    emotion, cause = triplet["emotion_span"], triplet["cause_span"]
    before = text[cause["start"] : emotion["start"]].strip(CUT_STRIP) if cause["start"] < emotion["start"] else ""
    after = text[emotion["end"] : cause["end"]].strip(CUT_STRIP) if cause["end"] > emotion["end"] else ""
    return before or after


def _text(triplet: dict[str, Any], cause: str | None = None) -> TextTriplet:
    return (str(triplet["emotion"]), str(cause if cause is not None else triplet["cause"]), str(triplet["category"]))


def score(run_dir: Path) -> dict[str, Any]:
    counts = {unit: {"as_is": [0, 0, 0], "cut": [0, 0, 0]} for unit in ("triplet", "cause")}
    per_document: dict[str, tuple[int, int, int]] = {}  # triplet counts as is, for check_totals
    documents = overlapping = dropped = 0
    for line in (run_dir / PREDICTIONS_FILE).read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else None
        if not isinstance(record, dict) or "id" not in record or "gold" not in record:
            continue  # a header or skipped record: no prediction to score
        documents += 1
        text = str(record.get("text", ""))
        language = record.get("language") or guess_language(text)
        gold = [_text(g) for g in record["gold"]]
        as_is, cut = [], []
        for t in record.get("triplets") or []:
            as_is.append(_text(t))
            if not (t.get("emotion_span") and t.get("cause_span") and _overlaps(t["emotion_span"], t["cause_span"])):
                cut.append(_text(t))
                continue
            overlapping += 1
            new_cause = cut_at_emotion(text, t)
            if new_cause:
                cut.append(_text(t, new_cause))
            else:
                dropped += 1
        for unit, rows in counts.items():
            for name, predicted in (("as_is", as_is), ("cut", cut)):
                found = document_counts(gold, predicted, language, unit)
                rows[name] = [total + n for total, n in zip(rows[name], found, strict=True)]
                if unit == "triplet" and name == "as_is":
                    per_document[str(record["id"])] = found

    def f1(unit: str, name: str) -> float:
        tp, n_pred, n_gold = counts[unit][name]
        return prf(tp, n_pred, tp, n_gold)[2]

    return {
        "documents": documents,
        "overlapping_causes": overlapping,
        "dropped": dropped,
        "agrees_with_metrics": check_totals(run_dir, per_document, "triplet"),
        **{f"{unit}_f1{'' if name == 'as_is' else '_cut'}": f1(unit, name) for unit in counts for name in counts[unit]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="run folders holding predictions.jsonl")
    args = parser.parse_args()
    print("| run | docs | overlapping causes | dropped | triplet F1 as is | cut | cause F1 as is | cut |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        r = score(run)
        if r["agrees_with_metrics"] is False:
            raise SystemExit(f"{run}: counts from {PREDICTIONS_FILE} disagree with its metrics.json")
        print(
            f"| {run} | {r['documents']} | {r['overlapping_causes']} | {r['dropped']} | {r['triplet_f1']:.3f} | "
            f"{r['triplet_f1_cut']:.3f} | {r['cause_f1']:.3f} | {r['cause_f1_cut']:.3f} |"
        )


if __name__ == "__main__":
    main()
