"""Finding what a training run left for inference: its config, its adapter or its full model.

A run directory, its ``adapter/`` folder, and a folder written by ``python -m ecct.merge`` all carry a
``config.yaml``; ``locate_run`` reads any of them (``ecct.predict`` and ``ecct.merge`` both start here), and also a
trainer checkpoint of the run (``<run>/checkpoints/checkpoint-N``, whose config is the run's): a stopped or
still-running run can be tested at any saved step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


class RunFolderError(ValueError):
    """A path that is not a usable run folder; the message says what was expected."""


@dataclass(frozen=True)
class RunArtifacts:
    """What a run directory provides for inference."""

    config: DictConfig  # the run's resolved config (model, peft, prompt, eval)
    adapter_dir: Path | None  # a PEFT adapter, or None
    model_dir: Path | None  # a full model that replaces the configured base (full fine-tune), or None

    @property
    def lora_rank(self) -> int | None:
        if self.adapter_dir is None:
            return None
        return int(json.loads((self.adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))["r"])


def locate_run(path: str | Path) -> RunArtifacts:
    """Read a run directory, its ``adapter/`` folder, or a merged model folder (all carry ``config.yaml``)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise RunFolderError(f"adapter={str(path)!r}: no such directory")
    run_dir = path if (path / "config.yaml").is_file() else path.parent
    if path.parent.name == "checkpoints" and (path.parent.parent / "config.yaml").is_file():
        run_dir = path.parent.parent  # <run>/checkpoints/checkpoint-N: the trainer's copy of the adapter at step N
    if not (run_dir / "config.yaml").is_file():
        raise RunFolderError(
            f"adapter={str(path)!r}: expected a training run directory (config.yaml + adapter/), its adapter/ "
            "folder, one of its checkpoints/checkpoint-N, or a folder written by `python -m ecct.merge`; found no "
            f"config.yaml in {path} or its parent"
        )
    config = OmegaConf.load(run_dir / "config.yaml")
    assert isinstance(config, DictConfig)
    for key in ("model", "prompt"):
        if key not in config:
            raise RunFolderError(f"{run_dir / 'config.yaml'}: lacks the {key!r} section of a training config")
    adapter = path if path != run_dir else run_dir / "adapter"
    if (adapter / "adapter_config.json").is_file():
        return RunArtifacts(config, adapter, None)
    if (adapter / "config.json").is_file():
        return RunArtifacts(config, None, adapter)
    if path == run_dir and not adapter.exists() and (run_dir / "config.json").is_file():
        return RunArtifacts(config, None, None)  # a merged folder: its config.yaml names the folder as the model
    if not adapter.exists():
        raise RunFolderError(f"{run_dir}: no adapter/ folder (has the training run finished?)")
    raise RunFolderError(f"{adapter}: neither a PEFT adapter (adapter_config.json) nor a model (config.json)")
