"""What a job does with the run folder it finds: skip it (finished), resume it (checkpoints), or start it.

Re-running a sweep with the same ``hydra.sweep.dir`` re-launches every job into the folder it had before; the
decision is made here, inside the job, so the basic launcher, submitit's SLURM requeue and a user's second command
all behave alike. The rule (``plan``):

- ``resume=false``: start over, whatever the folder holds.
- the folder has a ``config.yaml`` that differs from this job's resolved config (``config_differences``, ignoring
  ``RESULT_NEUTRAL_KEYS``): refused with the differing keys, so a changed sweep never resumes, or passes off as
  its own, another config's checkpoints or results;
- ``metrics.json`` and the same config: finished, skipped (nothing in the folder is rewritten);
- a complete checkpoint (``checkpoint-N/trainer_state.json``, the file the Trainer writes last): resumed from
  the latest; a checkpoint cut short by a kill is renamed ``incomplete-checkpoint-N`` first, so transformers'
  ``get_last_checkpoint`` never picks it;
- otherwise: started (again).

Every start of a job appends one line to ``attempts.jsonl`` (the action, the checkpoint step, the W&B run id) and
every end that Python sees one more (finished or failed); a start without an end was killed. ``read_history``
turns that file into what ``ecct.report`` lists.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ecct.settings import flag

log = logging.getLogger(__name__)

ATTEMPTS_FILE = "attempts.jsonl"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
# Checkpoint folders of a run: the LLM run's, and one per baseline stage (stage1/checkpoints, stage2/checkpoints).
CHECKPOINT_GLOBS = ("checkpoints", "*/checkpoints")
COMPLETE_MARKER = "trainer_state.json"  # written after the weights, optimizer and RNG states
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")

# Keys (fnmatch patterns on dotted paths) that change where and how a run is logged, never its numbers.
RESULT_NEUTRAL_KEYS = (
    "logger",  # W&B project, mode, tags, group (a pattern also covers the keys below it)
    "resume",
    "run_name",
    "sweep_name",
    "experiment_name",  # only the default output folder
    "data_dir",  # where the corpora are mounted, not which corpus (data.* stays compared)
    "*cache_dir",
    "save_models",  # baseline: keep stage models on disk
    "*.logging_steps",
    "*.logging_first_step",
    "*.disable_tqdm",
    "*.report_to",
    "*.dataloader_num_workers",
    "*.save_total_limit",  # disk only: transformers always keeps the best checkpoint
)

SKIP, RESUME, START, REFUSE = "skip", "resume", "start", "refuse"


class RunFolderConflict(RuntimeError):
    """The run folder holds another config's run; the message names the keys and how to proceed."""


@dataclass(frozen=True)
class Plan:
    action: str  # skip | resume | start | refuse
    checkpoint: Path | None = None
    step: int | None = None
    set_aside: tuple[str, ...] = ()  # incomplete checkpoints renamed before the body runs
    differences: tuple[str, ...] = ()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values (a changed list is one changed key)."""
    if isinstance(value, Mapping) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat |= flatten(item, f"{prefix}{key}.")
        return flat
    return {prefix[:-1]: value}


def _neutral(key: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, p) or key.startswith(p + ".") for p in patterns)


def config_differences(
    saved: Mapping[str, Any], current: Mapping[str, Any], ignore: Iterable[str] = RESULT_NEUTRAL_KEYS
) -> list[str]:
    """``key: saved -> current`` for every result-changing key that differs, was added or was removed."""
    ignore = tuple(ignore)
    old, new = flatten(saved), flatten(current)
    missing = object()
    lines = []
    for key in sorted(old.keys() | new.keys()):
        if _neutral(key, ignore):
            continue
        before, after = old.get(key, missing), new.get(key, missing)
        if before != after or (type(before) is not type(after) and not _same_number(before, after)):
            show = ("(absent)" if v is missing else repr(v) for v in (before, after))
            lines.append("{}: {} -> {}".format(key, *show))
    return lines


def _same_number(a: Any, b: Any) -> bool:
    """1 and 1.0 written by YAML are the same setting; True and 1 are not."""
    numbers = (int, float)
    return all(isinstance(x, numbers) and not isinstance(x, bool) for x in (a, b)) and a == b


def checkpoint_step(path: Path) -> int | None:
    match = _CHECKPOINT.match(path.name)
    return int(match.group(1)) if match and path.is_dir() else None


def checkpoint_folders(run_dir: Path) -> list[Path]:
    return sorted({p for pattern in CHECKPOINT_GLOBS for p in run_dir.glob(pattern) if p.is_dir()})


def set_aside_incomplete(run_dir: Path) -> list[str]:
    """Rename checkpoints without ``trainer_state.json`` (a kill mid-save) so no resume loads them."""
    renamed = []
    for folder in checkpoint_folders(run_dir):
        for checkpoint in sorted(folder.iterdir()):
            if checkpoint_step(checkpoint) is None or (checkpoint / COMPLETE_MARKER).exists():
                continue
            target = checkpoint.with_name(f"incomplete-{checkpoint.name}")
            n = 1
            while target.exists():
                n += 1
                target = checkpoint.with_name(f"incomplete{n}-{checkpoint.name}")
            try:
                checkpoint.rename(target)
            except FileNotFoundError:  # another rank of the same job renamed it first
                continue
            renamed.append(str(checkpoint.relative_to(run_dir)))
            log.warning("%s has no %s (cut short): renamed to %s", checkpoint, COMPLETE_MARKER, target.name)
    return renamed


def latest_checkpoint(run_dir: Path) -> tuple[Path, int] | None:
    """The latest complete checkpoint in any checkpoint folder of the run, with its global step."""
    found = [
        (step, path)
        for folder in checkpoint_folders(run_dir)
        for path in folder.iterdir()
        if (step := checkpoint_step(path)) is not None and (path / COMPLETE_MARKER).exists()
    ]
    if not found:
        return None
    step, path = max(found)
    return path, step


def plan(cfg: DictConfig, run_dir: Path) -> Plan:
    """Decide what this job does with ``run_dir`` (see the module docstring); renames cut-short checkpoints."""
    if not flag(cfg, "resume", True, ""):
        return Plan(START)
    saved_file = run_dir / CONFIG_FILE
    if saved_file.exists():
        saved = OmegaConf.to_container(OmegaConf.load(saved_file), resolve=True)
        current = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(saved, dict) and isinstance(current, dict)
        differences = config_differences(saved, current)
        if differences:
            return Plan(REFUSE, differences=tuple(differences))
    if (run_dir / METRICS_FILE).exists() and saved_file.exists():
        return Plan(SKIP)
    set_aside = tuple(set_aside_incomplete(run_dir))
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        return Plan(RESUME, latest[0], latest[1], set_aside)
    return Plan(START, set_aside=set_aside)


def conflict_message(run_dir: Path, differences: Iterable[str]) -> str:
    shown = list(differences)
    more = f" (+{len(shown) - 10} more)" if len(shown) > 10 else ""
    return (
        f"{run_dir} holds a run of another config: {'; '.join(shown[:10])}{more}. Its results and checkpoints "
        "are not this job's: use another hydra.sweep.dir (or hydra.run.dir), or resume=false to start it over "
        "in place (its outputs are overwritten)"
    )


def record(run_dir: Path, entry: dict[str, Any]) -> None:
    """Append one event to ``attempts.jsonl`` (flushed at once: the next event may be a SIGKILL)."""
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry}
    with (run_dir / ATTEMPTS_FILE).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def start_entry(chosen: Plan, run_dir: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"event": "start", "action": chosen.action}
    if chosen.checkpoint is not None:
        entry |= {"checkpoint": str(chosen.checkpoint.relative_to(run_dir)), "step": chosen.step}
    if chosen.set_aside:
        entry["set_aside"] = list(chosen.set_aside)
    if chosen.differences:
        entry["differences"] = list(chosen.differences)
    return entry


@dataclass
class History:
    """A job's starts and ends, from ``attempts.jsonl`` (empty for runs made before it existed)."""

    runs: int = 0  # starts that ran the body (start + resume)
    resumed_from: list[int | None] = field(default_factory=list)  # checkpoint step of each resume
    restarts: int = 0  # starts after an earlier one that left no checkpoint
    skipped: int = 0  # re-runs that found the job finished
    refused: int = 0
    last_action: str | None = None
    failures: list[str] = field(default_factory=list)  # errors Python saw
    interrupted: int = 0  # starts with no end: killed (or still running)
    set_aside: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # of the last refusal
    wandb_run_ids: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = []
        if self.resumed_from:
            steps = ", ".join("?" if s is None else str(s) for s in self.resumed_from)
            parts.append(f"resumed {len(self.resumed_from)}x (from step {steps})")
        if self.restarts:
            parts.append(f"restarted {self.restarts}x (no checkpoint)")
        if self.interrupted:
            parts.append(f"{self.interrupted} attempt(s) killed")
        if self.failures:
            parts.append(f"{len(self.failures)} failed ({self.failures[-1]})")
        if self.skipped:
            parts.append(f"skipped {self.skipped}x (already finished)")
        if self.set_aside:
            parts.append(f"{len(self.set_aside)} cut-short checkpoint(s) set aside")
        return "; ".join(parts)


def read_history(run_dir: Path) -> History:
    history = History()
    path = run_dir / ATTEMPTS_FILE
    if not path.exists():
        return history
    open_start = False
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if entry.get("event") == "end":
            open_start = False
            if entry.get("status") == "failed":
                history.failures.append(str(entry.get("error", "error")))
            continue
        action = entry.get("action")
        history.last_action = action
        if action == SKIP:
            history.skipped += 1
            continue
        if action == REFUSE:
            history.refused += 1
            history.differences = list(entry.get("differences", []))
            continue
        history.interrupted += open_start
        if action == RESUME:
            history.resumed_from.append(entry.get("step"))
        elif history.runs:
            history.restarts += 1
        history.runs += 1
        history.set_aside += entry.get("set_aside", [])
        if entry.get("wandb_run_id") and entry["wandb_run_id"] not in history.wandb_run_ids:
            history.wandb_run_ids.append(entry["wandb_run_id"])
        open_start = True
    history.interrupted += open_start and not (run_dir / METRICS_FILE).exists()
    return history
