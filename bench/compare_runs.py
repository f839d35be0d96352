"""Paired bootstrap of the test triplet F1 of one set of runs against another (e.g. a system's seeds vs the floor).

    python bench/compare_runs.py --system RUN_DIR [RUN_DIR ...] --reference RUN_DIR [RUN_DIR ...]

Each RUN_DIR holds a ``predictions.jsonl`` (any ecct run: ``ecct.train``, ``ecct.baseline``, ``ecct.score``) scored
on the same test documents. Replicates are paired by position (seed 1 with seed 1, ...); a single reference run
(a deterministic one, like the rule floor) is paired with every system run. The counts are recomputed from the
predictions and checked against each run's ``metrics.json``; the method is ``ecct.metrics.bootstrap`` (documents
resampled, replicates pooled by document), the same as ``ecct.report``'s significance column.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ecct.metrics.bootstrap import paired_bootstrap
from ecct.runs.predictions import read_run_counts


def run_counts(paths: list[Path], unit: str) -> list[dict[str, tuple[int, int, int]]]:
    out = []
    for path in paths:
        found = read_run_counts(path, unit)
        if found is None:
            raise SystemExit(f"{path}: no predictions.jsonl")
        if found.agrees is False:
            raise SystemExit(f"{path}: counts from predictions.jsonl disagree with its metrics.json")
        out.append(found.counts)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--system", type=Path, nargs="+", required=True)
    parser.add_argument("--reference", type=Path, nargs="+", required=True)
    parser.add_argument("--unit", default="triplet", help="triplet, pair, emotion, cause, ... (span level)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    system, reference = run_counts(args.system, args.unit), run_counts(args.reference, args.unit)
    if len(reference) == 1:
        reference = reference * len(system)
    if len(reference) != len(system):
        raise SystemExit(f"{len(system)} system runs against {len(reference)} reference runs: give 1 or as many")
    result = paired_bootstrap(
        dict(enumerate(system)), dict(enumerate(reference)), n_resamples=args.resamples, seed=args.seed
    )
    verdict = "supported" if result.excludes_zero else "not supported"
    print(
        f"{args.unit} F1 difference {result.difference:+.3f} "
        f"(95% interval {result.low:+.3f} ... {result.high:+.3f}; {verdict}); "
        f"{result.n_documents} documents x {result.n_replicates} replicates, "
        f"{result.unpaired_documents} unpaired, {result.n_resamples} resamples, seed {result.seed}"
    )


if __name__ == "__main__":
    main()
