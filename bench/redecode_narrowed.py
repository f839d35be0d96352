"""Score a narrower decoding constraint on a finished run by re-decoding only the documents it changes.

    python bench/redecode_narrowed.py RUN_DIR cause_outside_emotion=true "cause_clauses=[-2,-1,0,1]" \\
        --gold test.jsonl --out DIR [--predictions FILE] [--check N]

A constraint that only removes tokens from the allowed set (``cause_outside_emotion``, fewer ``cause_clauses``)
changes greedy decoding only where the old output used a removed token: an old output the new grammar accepts
(``ecct.decoding.constrained.DocumentGrammar`` run over its bytes) is what the new decoding writes too. So only
the rejected documents are decoded again (``ecct.predict`` with the settings given after ``RUN_DIR``); the others
keep their old output. The shortcut is exact up to batching: a document decoded in another batch (other
neighbours, other padding) can come out different in bfloat16 (measured: 1 of 32 checked documents on the CPU
recipe). ``--check N`` re-decodes N accepted documents too and reports how many changed (``redecode/checks_changed``
in ``metrics.json``): the spliced scores carry batching noise of about that rate; only a full decode is exact.

``--predictions`` is the old output (default ``RUN_DIR/predictions.jsonl``; an ``ecct.predict`` file works too),
``--gold`` the documents it was decoded from (``python -m ecct.data export``). ``DIR`` gets ``predictions.jsonl``
(the spliced records), ``metrics.json`` (``test/`` keys, as a training run writes them: ``bench/compare_runs.py``
and ``bench/recipe_table.py`` read ``DIR`` as a run) and ``redecoded.jsonl`` (ecct.predict's own file).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ecct.data.readers.jsonl import read_jsonl, write_jsonl
from ecct.decoding.constrained import DocumentGrammar, TokenTable
from ecct.decoding.generate import GenerationSettings
from ecct.metrics import compute_metrics
from ecct.runs.predictions import PREDICTIONS_FILE

START = frozenset({("start", True)})
NO_TOKENS = TokenTable((), ())  # acceptance of a text needs no vocabulary


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    records = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        record = json.loads(line) if line.strip() else None
        if isinstance(record, dict) and "id" in record and "output" in record:
            records[str(record["id"])] = record
        elif record is not None and not ("ecct_predict" in record or "skipped" in record):
            raise SystemExit(f"{path}:{number}: not a prediction record (no id and output)")
    return records


def accepted(settings: GenerationSettings, text: str, output: str) -> bool:
    """The new grammar can write ``output`` for ``text`` (a prefix of it, for an output cut short)."""
    grammar = DocumentGrammar(text, NO_TOKENS, settings.cause_clauses, settings.cause_outside_emotion)
    return bool(grammar.advance(START, output.encode()))


def score(gold: list, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    predictions = {
        doc_id: [(str(t["emotion"]), str(t["cause"]), str(t["category"])) for t in record.get("triplets") or []]
        for doc_id, record in records.items()
    }
    return {f"test/{key}": value for key, value in compute_metrics(gold, predictions).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the training run (its adapter decodes again)")
    parser.add_argument("--gold", type=Path, required=True, help="the documents, as python -m ecct.data export")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--predictions", type=Path, help="the old output (default: RUN/predictions.jsonl)")
    parser.add_argument("--check", type=int, default=0, help="accepted documents to re-decode as a check")
    parser.add_argument("settings", nargs="*", help="ecct.predict settings of the new decoding")
    args = parser.parse_args()

    new = OmegaConf.from_dotlist(args.settings)
    settings = GenerationSettings(
        constrained=True,
        cause_clauses=new.get("cause_clauses"),
        cause_outside_emotion=bool(new.get("cause_outside_emotion", False)),
    )
    gold = read_jsonl(args.gold).documents
    old = read_records(args.predictions or args.run / PREDICTIONS_FILE)
    missing = sorted({doc.id for doc in gold} - set(old))
    if missing:
        raise SystemExit(f"{len(missing)} gold documents have no old prediction, e.g. {missing[:3]}")
    rejected = [doc for doc in gold if not accepted(settings, doc.text, old[doc.id]["output"])]
    checks = [doc for doc in gold if doc not in rejected][: args.check]  # the first N accepted, in input order
    print(f"{len(rejected)} of {len(gold)} old outputs break the new constraint: re-decoded (+{len(checks)} checks)")

    args.out.mkdir(parents=True, exist_ok=True)
    subset, redecoded_file = args.out / "redecode_input.jsonl", args.out / "redecoded.jsonl"
    write_jsonl([*rejected, *checks], subset)
    command = [
        sys.executable, "-m", "ecct.predict", f"adapter={args.run}", f"input={subset}",
        f"output={redecoded_file}", "resume=false", *args.settings,
    ]  # fmt: skip
    subprocess.run(command, check=True)
    redecoded = read_records(redecoded_file)
    changed = [doc.id for doc in checks if redecoded[doc.id]["output"] != old[doc.id]["output"]]
    if changed:  # batching noise, not the constraint: these keep their old output
        print(f"{len(changed)} of {len(checks)} accepted documents decoded differently in another batch: {changed}")
    rejected_ids = {doc.id for doc in rejected}
    spliced = {doc.id: redecoded[doc.id] if doc.id in rejected_ids else old[doc.id] for doc in gold}
    with (args.out / PREDICTIONS_FILE).open("w", encoding="utf-8") as handle:
        for doc in gold:
            handle.write(json.dumps(spliced[doc.id], ensure_ascii=False) + "\n")
    before, after = score(gold, old), score(gold, spliced)
    after |= {"redecode/rejected": len(rejected), "redecode/checks": len(checks), "redecode/checks_changed": changed}
    (args.out / "metrics.json").write_text(json.dumps(after, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    unchanged = len(checks) - len(changed)
    print(f"| unit | before | after |  ({len(rejected)} re-decoded; {unchanged} of {len(checks)} checks unchanged)")
    print("|---|---|---|")
    for unit in ("triplet", "pair", "emotion", "emotion_category", "cause"):
        keys = [f"test/{level}/{unit}/f1" for level in ("span", "word")]
        if all(k in after for k in keys):
            print(f"| {unit} | " + " | ".join(" / ".join(f"{m[k]:.3f}" for k in keys) for m in (before, after)) + " |")


if __name__ == "__main__":
    main()
