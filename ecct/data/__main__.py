"""``python -m ecct.data stats data=gui2016 [data.split.index=3 ...]``: corpus statistics from the Hydra config."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from ecct import CONF_DIR
from ecct.data.corpus import CorpusConfigError, load_corpus
from ecct.data.errors import DataError
from ecct.data.paths import DataDirNotFound
from ecct.data.splits import SplitError
from ecct.data.stats import format_stats

USAGE = (
    "usage: python -m ecct.data stats [OVERRIDE ...]\n"
    "  e.g. python -m ecct.data stats data=gui2016 | data=gui2016_ecpe data.split.fold=3 | data=ecf | data=demo\n"
    "       python -m ecct.data stats data=jsonl data.path=docs.jsonl | data=ecf_test data.path=Subtask_1_test.json\n"
    "       python -m ecct.data stats data=reccon_dd | data=reccon_iemocap | data=emotion_stimulus"
)
COMMANDS = ("stats",)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not args or args[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    # compose() is used instead of @hydra.main so the command runs in-process (tests) and writes no output dir.
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("stats", overrides=args[1:])
        corpus = load_corpus(cfg.data, data_dir=cfg.get("data_dir"))
    except (HydraException, OmegaConfBaseException) as err:
        print(f"error: bad config or override: {err}\n{USAGE}", file=sys.stderr)
        return 2
    except (DataError, DataDirNotFound, FileNotFoundError, CorpusConfigError, SplitError) as err:
        # Expected user-facing failures: the message names the file or key; a traceback would only bury it.
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(format_stats(corpus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
