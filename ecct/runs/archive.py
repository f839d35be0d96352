"""Copy a sweep's finished jobs, without their weights, to another folder (``python -m ecct.archive FROM TO``).

A CPU sweep outlives the machine it started on (eight jobs of an hour each), and a cluster's scratch space is
wiped. What a report needs from a finished job is small: its config, overrides, metrics, history and the
per-document counts of its test predictions, tens of kB. This copies exactly those files of every finished job
(``metrics.json`` beside ``config.yaml``) and the sweep's ``multirun.yaml``; checkpoints, W&B folders and anything
else below the job folder stay behind. ``predictions.jsonl`` stays behind too: it holds the test documents' text,
and the corpora are research-only (never committed). Its counts go instead (``document_counts.jsonl``, every unit,
``ecct.runs.predictions``): what the report's paired bootstrap and ``bench/compare_runs.py`` resample.

The same command works both ways. ``FROM`` a sweep folder ``TO`` a kept folder (``experiments/results/...``):
the finished jobs are kept, and ``ecct.report`` reads the kept folder like a sweep. ``FROM`` the kept folder
``TO`` a new machine's sweep folder: the next run of the sweep skips them (``ecct.runs.resume``: metrics and the
same config). A job already in ``TO`` with the same config is left as it is (counted); one with another config is
an error that names both folders, so two different sweeps never mix. Unfinished jobs are counted and reported.

``KeepFinishedJobs`` does the keeping from inside the sweep, as each job ends (a Hydra callback:
``+hydra.callbacks.keep._target_=ecct.runs.archive.KeepFinishedJobs +hydra.callbacks.keep.to=DIR``), so a sweep
stopped later by Ctrl-C, a kill or the machine's end has lost none of the jobs it finished.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ecct.runs import resume
from ecct.runs.predictions import COUNTS_FILE, PREDICTIONS_FILE, write_document_counts
from ecct.runs.tracking import RUN_ID_FILE

log = logging.getLogger(__name__)

SWEEP_FILES = ("multirun.yaml",)
# What ``ecct.report`` and ``ecct.runs.resume`` read, and what says how the numbers came about.
JOB_FILES = (
    resume.CONFIG_FILE,
    resume.METRICS_FILE,
    resume.ATTEMPTS_FILE,
    COUNTS_FILE,
    "train_log.jsonl",
    "dev_metrics.jsonl",
    "versions.json",
    RUN_ID_FILE,
)
HYDRA_FOLDER = ".hydra"
MAX_FILE_BYTES = 5_000_000  # a kept folder is committed: anything larger is not a result file


class ArchiveConflict(RuntimeError):
    """``TO`` holds a job of the same name with another config."""


@dataclass
class Copied:
    copied: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)  # files left behind, "job/file (N bytes)"


def finished_jobs(sweep_dir: Path) -> tuple[list[Path], list[Path]]:
    """The job folders of ``sweep_dir`` (those with ``.hydra/``), split into finished and unfinished."""
    jobs = sorted(p.parent for p in sweep_dir.glob(f"*/{HYDRA_FOLDER}") if p.is_dir())
    done = [job for job in jobs if (job / resume.METRICS_FILE).exists() and (job / resume.CONFIG_FILE).exists()]
    return done, [job for job in jobs if job not in done]


def _same_config(a: Path, b: Path) -> list[str]:
    saved, other = (OmegaConf.to_container(OmegaConf.load(p / resume.CONFIG_FILE), resolve=True) for p in (a, b))
    assert isinstance(saved, dict) and isinstance(other, dict)
    return resume.config_differences(saved, other)


def archive(source: Path, target: Path) -> Copied:
    """Copy the finished jobs of ``source`` (result files only) into ``target``; see the module docstring."""
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such sweep folder")
    done, unfinished = finished_jobs(source)
    result = Copied(unfinished=[job.name for job in unfinished])
    for job in done:
        destination = target / job.name
        if (destination / resume.CONFIG_FILE).exists():
            differences = _same_config(destination, job)  # "key: value there -> value here"
            if differences:
                raise ArchiveConflict(
                    f"{destination} holds a job of another config than {job}: {'; '.join(differences[:5])}"
                )
            if (destination / resume.METRICS_FILE).exists():
                result.already_there.append(job.name)
                continue
        destination.mkdir(parents=True, exist_ok=True)
        names = [name for name in JOB_FILES if (job / name).is_file()]
        names += [f"{HYDRA_FOLDER}/{p.name}" for p in sorted((job / HYDRA_FOLDER).iterdir()) if p.is_file()]
        for name in names:
            size = (job / name).stat().st_size
            if size > MAX_FILE_BYTES:
                result.too_large.append(f"{job.name}/{name} ({size} bytes)")
                continue
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(job / name, destination / name)
        if (job / PREDICTIONS_FILE).is_file() and not (job / COUNTS_FILE).is_file():
            write_document_counts(job / PREDICTIONS_FILE, destination / COUNTS_FILE)
        result.copied.append(job.name)
    for name in SWEEP_FILES:
        if (source / name).is_file() and not (target / name).exists():
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)
    return result


class KeepFinishedJobs(Callback):
    """Hydra callback: after each job, keep the sweep's finished jobs in ``to`` (``archive``; already kept ones are
    left as they are), so what a job finished survives whatever stops the sweep afterwards."""

    def __init__(self, to: str) -> None:
        self.to = Path(to)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.runtime.output_dir).parent
        result = archive(sweep_dir, self.to)
        if result.copied:
            log.info("kept %s in %s (without weights or predictions)", ", ".join(result.copied), self.to)
        for item in result.too_large:
            log.warning("left behind (over %d bytes): %s", MAX_FILE_BYTES, item)
