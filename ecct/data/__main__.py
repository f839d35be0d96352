"""``python -m ecct.data stats|export [OVERRIDE ...]``: corpus statistics, or one split part as a JSONL corpus file.

``export`` writes the documents (gold triplets included) a run would test on, e.g. to score a trained run on
another corpus with ``python -m ecct.predict adapter=RUN input=FILE`` (zero-shot transfer).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from ecct import CONF_DIR
from ecct.data.corpus import Corpus, CorpusConfigError, load_corpus
from ecct.data.errors import DataError
from ecct.data.paths import DataDirNotFound
from ecct.data.splits import PARTS, SplitError
from ecct.data.stats import format_stats
from ecct.jsonl import write_jsonl

USAGE = (
    "usage: python -m ecct.data stats|export [OVERRIDE ...]\n"
    "  e.g. python -m ecct.data stats data=gui2016 | data=gui2016_ecpe data.split.fold=3 | data=ecf | data=demo\n"
    "       python -m ecct.data stats data=jsonl data.path=docs.jsonl | data=ecf_test data.path=Subtask_1_test.json\n"
    "       python -m ecct.data stats data=reccon_dd | data=reccon_iemocap | data=emotion_stimulus\n"
    "       python -m ecct.data export data=gui2016 part=test out=gui-test.jsonl   (part: train | valid | test | all)"
)
COMMANDS = ("stats", "export")


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
        if args[0] == "export" and (problem := export_problem(cfg.part, cfg.out)):
            print(f"error: {problem}\n{USAGE}", file=sys.stderr)
            return 2
        corpus = load_corpus(cfg.data, data_dir=cfg.get("data_dir"))
    except (HydraException, OmegaConfBaseException) as err:
        print(f"error: bad config or override: {err}\n{USAGE}", file=sys.stderr)
        return 2
    except (DataError, DataDirNotFound, FileNotFoundError, CorpusConfigError, SplitError) as err:
        # Expected user-facing failures: the message names the file or key; a traceback would only bury it.
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args[0] == "stats":
        print(format_stats(corpus))
        return 0
    return export(corpus, cfg.part, cfg.out)


def export_problem(part: str, out: str | None) -> str | None:
    """What is wrong with export's settings (checked before the corpus is read), or None."""
    if not out:
        return "export needs out=FILE.jsonl"
    if part != "all" and part not in PARTS:
        return f"part={part!r}: expected one of {', '.join((*PARTS, 'all'))}"
    return None


def export(corpus: Corpus, part: str, out: str) -> int:
    """Write one split part (or ``all``) as ``Document.to_dict()`` lines; say how many went where."""
    documents = corpus.documents if part == "all" else corpus.part(part)
    path = write_jsonl(documents, out)
    triplets = sum(len(doc.triplets) for doc in documents)
    where = f"{corpus.name} {part} ({corpus.split.name})"
    print(f"{len(documents):,} documents ({triplets:,} triplets) of {where} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
