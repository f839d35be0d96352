"""``python -m ecct.archive FROM TO``: keep a sweep's finished jobs without their weights, or bring them back.

    python -m ecct.archive multirun/instructions-cpu experiments/results/instructions-cpu/jobs   # keep
    python -m ecct.archive experiments/results/instructions-cpu/jobs multirun/instructions-cpu   # skipped by the sweep

What is copied and when it refuses: ``ecct.runs.archive``. Exit code 1 on a missing source or a job of another
config in the target.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ecct.runs.archive import MAX_FILE_BYTES, ArchiveConflict, archive

log = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecct.archive", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a sweep folder (hydra.sweep.dir) or a kept folder")
    parser.add_argument("target", type=Path, help="where the finished jobs go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        result = archive(args.source, args.target)
    except (FileNotFoundError, ArchiveConflict) as error:
        log.error("%s", error)
        return 1
    log.info(
        "%s -> %s: %d finished job(s) copied, %d already there, %d unfinished left behind%s",
        args.source,
        args.target,
        len(result.copied),
        len(result.already_there),
        len(result.unfinished),
        "".join(f"\n  unfinished: {name}" for name in result.unfinished),
    )
    for item in result.too_large:
        log.warning("left behind (over %d bytes): %s", MAX_FILE_BYTES, item)
    return 0


if __name__ == "__main__":
    sys.exit(main())
