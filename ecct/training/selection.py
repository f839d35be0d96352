"""Which checkpoint a run tests: the best by dev triplet F1, the lowest dev loss, or the last step.

=========================================  ==================  =============================================
switches                                   ``dev/selection``   what is tested
=========================================  ==================  =============================================
``eval.generate_during_training=true``     ``dev_triplet_f1``  the evaluated checkpoint with the best dev
                                                               triplet F1 (word-level F1 breaks ties)
``eval.generate_during_training=false``    ``dev_loss``        the evaluated checkpoint with the lowest dev
                                                               loss (no dev generation: cheap evaluations)
``eval.max_dev_documents=0``               ``last``            the last step (no dev evaluation at all)
=========================================  ==================  =============================================

Evaluations run every ``trainer.eval_steps`` and at the last step (transformers adds that one), so a run whose
``eval_steps`` exceeds its steps still evaluates, and selects, once. The best checkpoint can only be restored
if it was saved: ``trainer.save_steps`` must be a multiple of ``trainer.eval_steps`` (``ecct.runs.checks``), and
when the best evaluation fell on a step that was not saved (``save_steps`` larger than ``eval_steps``), the run
tests the best saved one and says so: ``dev/tested_step`` is always the step whose weights were tested.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecct.training.trainer import BEST_METRIC

log = logging.getLogger(__name__)

DEV_F1 = "dev_triplet_f1"
DEV_LOSS = "dev_loss"
LAST = "last"


@dataclass(frozen=True)
class Selection:
    name: str  # DEV_F1 | DEV_LOSS | LAST
    reason: str  # the switch that chose it, for the log

    @property
    def evaluates(self) -> bool:
        return self.name != LAST

    @property
    def metric(self) -> str | None:
        return {DEV_F1: f"eval_{BEST_METRIC}", DEV_LOSS: "eval_loss"}.get(self.name)

    def trainer_arguments(self) -> dict[str, Any]:
        """The ``SFTConfig`` fields this selection sets (users cannot set them: ``ecct.runs.checks``)."""
        if not self.evaluates:
            return {"eval_strategy": "no", "save_strategy": "steps", "load_best_model_at_end": False}
        return {
            "eval_strategy": "steps",
            "save_strategy": "steps",
            "metric_for_best_model": self.metric,
            "greater_is_better": self.name == DEV_F1,
            "load_best_model_at_end": True,
        }

    def describe(self) -> str:
        what = {
            DEV_F1: "the evaluated checkpoint with the best dev triplet F1 is tested",
            DEV_LOSS: "the evaluated checkpoint with the lowest dev loss is tested (no dev generation)",
            LAST: "the last step is tested (no dev evaluation)",
        }[self.name]
        return f"checkpoint selection: {self.name} ({self.reason}): {what}"


def choose_selection(generate_during_training: bool, n_dev_documents: int) -> Selection:
    if n_dev_documents == 0:
        return Selection(LAST, "eval.max_dev_documents=0")
    if generate_during_training:
        return Selection(DEV_F1, "eval.generate_during_training=true")
    return Selection(DEV_LOSS, "eval.generate_during_training=false")


def checkpoint_step(checkpoint: str | None) -> int | None:
    if not checkpoint:
        return None
    try:
        return int(Path(checkpoint).name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def tested_step(selection: Selection, state: Any) -> int:
    """The step whose weights are in the model after ``train()``: the restored best checkpoint, else the last."""
    restored = checkpoint_step(state.best_model_checkpoint) if selection.evaluates else None
    return restored if restored is not None else state.global_step


def selection_summary(selection: Selection, state: Any, dev_log: Path) -> dict[str, Any]:
    """``dev/*`` entries of metrics.json: how the tested checkpoint was chosen and its dev scores; logged too."""
    step = tested_step(selection, state)
    best = state.best_global_step if selection.evaluates else None
    summary: dict[str, Any] = {"dev/selection": selection.name, "dev/best_step": best, "dev/tested_step": step}
    eval_loss = next(
        (e["eval_loss"] for e in reversed(state.log_history) if e.get("step") == step and "eval_loss" in e), None
    )
    if eval_loss is not None:
        summary["dev/loss"] = eval_loss
    summary.update(dev_scores(dev_log, step))
    if selection.evaluates and best is not None and best != step:
        log.warning(
            "the best dev evaluation (step %d) was not saved as a checkpoint (trainer.save_steps is larger than "
            "trainer.eval_steps): testing step %d instead; set trainer.save_steps=trainer.eval_steps to test the best",
            best,
            step,
        )
    elif selection.evaluates and best is None:
        log.warning("no dev evaluation picked a checkpoint: testing the last step (%d)", step)
    log.info("tested step %d (selection: %s)", step, selection.name)
    return summary


def dev_scores(dev_log: Path, step: int | None) -> dict[str, float]:
    """Dev triplet F1 (span and word level) of the checkpoint that was tested, from ``dev_metrics.jsonl``."""
    if step is None or not dev_log.exists():
        return {}
    entries, cut = [], 0
    for line in dev_log.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill (a resumed run appends after it)
            cut += 1
    if cut:
        log.warning("%s: %d line(s) that are not JSON (cut by a stopped run) were skipped", dev_log, cut)
    found = next((e for e in reversed(entries) if e["step"] == step), None)
    keys = ("span/triplet/f1", "word/triplet/f1", "span/emotion/f1", "span/cause/f1")
    return {f"dev/{key}": found[key] for key in keys} if found else {}
