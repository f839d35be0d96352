"""One Markdown row per run folder: the CPU-recipe study's table (README "Results", bench/RESULTS.md).

    python bench/recipe_table.py outputs/cpu-study/cpu-s1 outputs/cpu-study/cpu-s2 outputs/baseline/rules-...

Reads each folder's ``metrics.json`` (and ``config.yaml`` for the epoch count); a folder without
``metrics.json`` is reported, not skipped silently. Units: triplet / pair / emotion / emotion+category / cause F1,
span and word level; training time, epochs, tokens seen and peak RSS where the run trained.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

UNITS = ("triplet", "pair", "emotion", "emotion_category", "cause")


def _f1(metrics: dict, level: str, unit: str) -> str:
    value = metrics.get(f"test/{level}/{unit}/f1")
    return "" if value is None else f"{value:.3f}"


def row(run: Path) -> str:
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    scores = " | ".join(f"{_f1(metrics, 'span', u)} / {_f1(metrics, 'word', u)}" for u in UNITS)
    seconds = metrics.get("train/seconds")
    trained = (f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s") if seconds else ""
    steps, n_train = metrics.get("train/steps"), metrics.get("data/n_train")
    epochs = ""
    if steps and n_train and (run / "config.yaml").exists():
        from omegaconf import OmegaConf

        cfg = OmegaConf.load(run / "config.yaml")
        batch = cfg.trainer.per_device_train_batch_size * cfg.trainer.get("gradient_accumulation_steps", 1)
        epochs = f"{steps * batch / n_train:.2f}"
    tokens = metrics.get("train/tokens_per_second")
    seen = f"{tokens * seconds / 1e6:.2f} M" if tokens and seconds else ""
    rss = metrics.get("peak_memory_mb")
    memory = f"{rss / 1000:.1f} GB" if rss else ""
    n_test = metrics.get("data/n_test", metrics.get("test/n_documents", ""))
    return f"| {run.name} | {n_test} | {scores} | {trained} | {epochs} | {seen} | {memory} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (each with metrics.json)")
    args = parser.parse_args(argv)
    header = " | ".join(f"{u.replace('_', '+')} F1 span / word" for u in UNITS)
    print(f"| run | test docs | {header} | training | epochs | tokens | peak RSS |")
    print("|" + "---|" * (len(UNITS) + 6))
    missing = 0
    for run in args.runs:
        if not (run / "metrics.json").exists():
            print(f"{run}: no metrics.json (unfinished or failed run)", file=sys.stderr)
            missing += 1
            continue
        print(row(run))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
