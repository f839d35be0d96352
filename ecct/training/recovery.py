"""A run that fails after it has trained keeps its weights: saved first, then the error goes on.

Whatever raises once an optimizer step has run (dev evaluation, checkpoint selection, test decoding, writing the
results, Ctrl-C), ``Recovery.save_and_explain`` runs before the error propagates (the exit code stays non-zero):

- before the tested adapter reached ``adapter/``: the weights in memory (the last step's, or the restored best
  checkpoint once selection ran) go to ``<run_dir>/adapter-last/`` with the tokenizer;
- after it: ``adapter/`` already holds the tested checkpoint; nothing more is written.

It then logs the error, what was saved, the step, and two commands: ``python -m ecct.predict`` on the run's test
documents (written to ``<run_dir>/test_documents.jsonl``) with the saved adapter, and the train command that
resumes from the last checkpoint in ``checkpoints/``.
"""

from __future__ import annotations

import logging
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.data.model import Document

log = logging.getLogger(__name__)

LAST_ADAPTER = "adapter-last"
TEST_DOCUMENTS = "test_documents.jsonl"


def train_command(run_dir: Path) -> str:
    """The command that resumes this run: the same overrides (from Hydra when it runs) with its run directory."""
    overrides: list[str] = []
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("hydra.run.dir=")]
    except (ImportError, ValueError):
        pass
    if not overrides and sys.argv[0].endswith("ecct/train.py"):
        overrides = [a for a in sys.argv[1:] if not a.startswith("hydra.run.dir=")]
    return shlex.join(["python", "-m", "ecct.train", *overrides, f"hydra.run.dir={run_dir}"])


@dataclass
class Recovery:
    run_dir: Path
    test_documents: Sequence[Document]
    constrained: bool = False
    cause_clauses: Sequence[int] | None = None  # eval.cause_clauses, passed on to the retest command
    cause_outside_emotion: bool = False  # eval.cause_outside_emotion, likewise
    adapter: Path | None = None  # set once the tested adapter is in adapter/

    def save_and_explain(self, trainer: Any, tokenizer: Any, error: BaseException) -> Path | None:
        """Save what was trained (rank 0 writes), log how to go on; returns the adapter folder, or None."""
        step = int(trainer.state.global_step)
        what = f"{type(error).__name__}: {error}"
        if self.adapter is not None:
            saved, kind = self.adapter, "the tested checkpoint"
        elif step < 1:
            log.error("run failed before its first optimizer step (%s): nothing trained, nothing saved", what)
            return None
        else:
            saved, kind = self.run_dir / LAST_ADAPTER, f"the weights in memory at step {step}"
            try:
                trainer.save_model(str(saved))
                if trainer.is_world_process_zero():
                    tokenizer.save_pretrained(saved)
            except Exception as save_error:  # the original error is the one re-raised
                log.error(
                    "run failed at step %d (%s); saving the adapter to %s failed too: %s", step, what, saved, save_error
                )
                return None
        if not trainer.is_world_process_zero():
            return saved
        documents = self.run_dir / TEST_DOCUMENTS
        retest = ""
        try:
            from ecct.data.readers.jsonl import write_jsonl

            write_jsonl(self.test_documents, documents)
            retest = "\n  test it:   " + shlex.join(
                [
                    "python",
                    "-m",
                    "ecct.predict",
                    f"adapter={saved}",
                    f"input={documents}",
                    f"output={self.run_dir / 'test_predictions.jsonl'}",
                    f"constrained={str(self.constrained).lower()}",
                    *([f"cause_clauses=[{','.join(map(str, self.cause_clauses))}]"] if self.cause_clauses else []),
                    *(["cause_outside_emotion=true"] if self.cause_outside_emotion else []),
                ]
            )
        except Exception as write_error:
            log.error("could not write the test documents to %s: %s", documents, write_error)
        last = latest_checkpoint(trainer.args.output_dir)
        resume = f"continues from {last}" if last else "no checkpoint was saved yet: it starts over"
        log.error(
            "run failed after %d optimizer steps (%s); saved: %s, in %s%s\n  resume:    %s   (%s)",
            step,
            what,
            kind,
            saved,
            retest,
            train_command(self.run_dir),
            resume,
        )
        return saved


def latest_checkpoint(output_dir: str) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
