"""CPU cost per generation step of marker-constrained sampling (``ecct.augment.marker_constraint``).

    python bench/bench_marker_constraint.py [--model smollm2_135m] [--data gui2016] [--batch 16 64 256]
                                            [--steps 200] [--out bench/results_marker_constraint.json]

Calls the processor the way ``generate`` does, without a model: each row rewrites a real training source (its
markers), each step gets random logits over the model's vocabulary with the end of sequence likely, and the row
takes its best allowed token. Reports the processor's process-CPU milliseconds per step and per row-step, the
one-off vocabulary table build, and checks that every row finished with exactly its own markers. Next to a
135M model's forward pass (tens of ms per step for a batch on CPU) this is the constraint's overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from ecct.augment.marker_constraint import MarkerLogitsProcessor, marker_vocabulary
from ecct.augment.marking import DEFAULT_MARKERS, mark_document, strip_markers
from ecct.data.corpus import load_corpus
from ecct.data.errors import DataError
from ecct.data.paths import REPO_ROOT
from ecct.models import load_tokenizer, resolve_model_path


def sources(data: str, n: int) -> list[tuple[str, ...]]:
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"data={data}"])
    rows: list[tuple[str, ...]] = []
    for doc in load_corpus(cfg.data, cfg.data_dir).part("train"):
        try:
            marked = mark_document(doc)
        except DataError:
            continue
        rows.append(tuple(DEFAULT_MARKERS.render(m.role, m.number, m.text) for m in marked.markers))
        if len(rows) == n:
            return rows
    raise SystemExit(f"only {len(rows)} usable sources in {data}")


def run(tokenizer, rows: list[tuple[str, ...]], steps: int, seed: int) -> dict[str, float]:
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    processor = MarkerLogitsProcessor(rows, tokenizer, [eos], DEFAULT_MARKERS, max_new_tokens=steps - 1)
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((len(rows), 8), pad, dtype=torch.long)
    done = torch.zeros(len(rows), dtype=torch.bool)
    spent = 0.0
    for _ in range(steps):
        scores = torch.randn(len(rows), len(tokenizer), generator=generator)
        scores[:, eos] += 2.0  # the end is often likely: the "wants to end" rule fires, as with real models
        start = time.process_time()
        masked = processor(ids, scores)
        spent += time.process_time() - start
        chosen = masked.argmax(-1)
        chosen[done] = pad
        done |= chosen == eos
        ids = torch.cat([ids, chosen[:, None]], dim=1)
        if done.all():
            break
    texts = [tokenizer.decode(row[8:], skip_special_tokens=True) for row in ids]
    complete = sum(
        Counter(DEFAULT_MARKERS.render(m.role, m.number, m.text) for m, _ in strip_markers(text).found) == Counter(row)
        and not strip_markers(text).fragments
        for text, row in zip(texts, rows, strict=True)
    )
    n_steps = ids.shape[1] - 8
    return {
        "rows": len(rows),
        "steps": n_steps,
        "cpu_ms_per_step": 1000 * spent / n_steps,
        "cpu_us_per_row_step": 1e6 * spent / (n_steps * len(rows)),
        "rows_complete": complete,
        "rows_ended": int(done.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2_135m", help="a conf/model/*.yaml name (only its tokenizer)")
    parser.add_argument("--data", default="gui2016")
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/results_marker_constraint.json"))
    args = parser.parse_args()

    model_cfg = OmegaConf.load(REPO_ROOT / "conf" / "model" / f"{args.model}.yaml")
    tokenizer = load_tokenizer(model_cfg, resolve_model_path(model_cfg))
    start = time.process_time()
    marker_vocabulary(tokenizer, DEFAULT_MARKERS)
    table_s = time.process_time() - start
    rows = sources(args.data, max(args.batch))
    results = [run(tokenizer, rows[:batch], args.steps, args.seed) for batch in args.batch]
    report = {
        "model": args.model,
        "vocabulary": len(tokenizer),
        "data": args.data,
        "table_build_cpu_s": round(table_s, 2),
        "results": results,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "omp_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
