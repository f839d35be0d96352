"""Where a run's predicted causes lie, in clauses from their emotion, against the gold causes (error analysis).

    python bench/cause_distance.py outputs/cpu-study/gemma-s1 [outputs/cpu-study/cpu-s2 preds.jsonl ...]

Reads each run folder's ``predictions.jsonl``, or an ``ecct.predict`` output file run on a labelled JSONL (text,
predicted triplets, gold triplets; its header line is skipped). Predictions hold span
texts, not offsets, so a span is placed at its occurrence nearest the emotion's first occurrence; a span not in
the text is counted as such. Clauses are the rule floor's (``ecct.baseline.rules.split_clauses``). Prints, per
run, how many predicted and gold causes lie at each distance (cause clause - emotion clause), bucketed as the
README's analysis does: 0 (same clause), -1 (the clause before), other within 3 clauses, 4 or more away.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from ecct.baseline.rules import clause_index, split_clauses

BUCKETS = ("0", "-1", "other within 3", "4+ away", "not in text")


def _nearest(text: str, needle: str, anchor: int) -> int | None:
    starts, at = [], text.find(needle)
    while needle and at != -1:
        starts.append(at)
        at = text.find(needle, at + 1)
    return min(starts, key=lambda s: abs(s - anchor)) if starts else None


def bucket(text: str, emotion: str, cause: str, language: str) -> str:
    clauses = split_clauses(text, language)
    emotion_at = text.find(emotion) if emotion else -1
    cause_at = _nearest(text, cause, max(emotion_at, 0))
    if emotion_at == -1 or cause_at is None or not clauses:
        return "not in text"
    distance = clause_index(clauses, cause_at) - clause_index(clauses, emotion_at)
    if distance in (0, -1):
        return str(distance)
    return "other within 3" if abs(distance) <= 3 else "4+ away"


def count(run: Path, language: str) -> tuple[Counter[str], Counter[str]]:
    predicted: Counter[str] = Counter()
    gold: Counter[str] = Counter()
    path = run if run.is_file() else run / "predictions.jsonl"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err.msg})") from None
        if "ecct_predict" in record:  # ecct.predict's header: the settings, no document
            continue
        if "gold" not in record:
            raise ValueError(f"{path}:{number}: no 'gold' triplets (predict on a labelled JSONL, or a run folder)")
        text = record["text"]
        for side, counter in (("triplets", predicted), ("gold", gold)):
            for triplet in record.get(side) or []:
                counter[bucket(text, triplet["emotion"], triplet["cause"], language)] += 1
    return predicted, gold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run folders holding predictions.jsonl, or predict outputs")
    parser.add_argument("--language", default="zh", help="clause delimiters: zh or en")
    args = parser.parse_args(argv)
    print("| run | side | " + " | ".join(BUCKETS) + " | total |")
    print("|---" * (len(BUCKETS) + 3) + "|")
    for run in args.runs:
        if not run.is_file() and not (run / "predictions.jsonl").exists():
            print(f"{run}: no predictions.jsonl", file=sys.stderr)
            return 2
        for side, counter in zip(("predicted", "gold"), count(run, args.language), strict=True):
            cells = " | ".join(str(counter[b]) for b in BUCKETS)
            print(f"| {run.name} | {side} | {cells} | {sum(counter.values())} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
