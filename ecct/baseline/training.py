"""What both stages share: TrainingArguments from config, W&B logging under a stage prefix, resumable training.

A stage trains with transformers' ``Trainer`` in ``<run dir>/<stage>/checkpoints``, restores its best dev checkpoint,
saves the model to ``<run dir>/<stage>/model`` (its training time, steps and log to ``<stage>/training.json``) and
deletes the checkpoints (each holds the optimiser state too). Running the same command again skips a stage whose
model is saved and resumes one that has checkpoints.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from transformers import PreTrainedModel, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

log = logging.getLogger(__name__)

TRAINING_RECORD = "training.json"
FIXED_ARGUMENTS = ("output_dir", "eval_strategy", "save_strategy", "load_best_model_at_end", "report_to")


@dataclass
class StageResult:
    """A trained stage: its model, wall-clock training seconds (0 when loaded) and the trainer's log history."""

    model: PreTrainedModel
    seconds: float = 0.0
    steps: int = 0
    loss: float | None = None
    best_metric: float | None = None
    log_history: list[dict[str, Any]] = field(default_factory=list)


class StageLogCallback(TrainerCallback):
    """Logs the trainer's numbers to an existing W&B run as ``<stage>/<key>`` (the stages' steps both start at 0)."""

    def __init__(self, wandb_run: Any, stage: str):
        self.wandb_run = wandb_run
        self.stage = stage

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        if self.wandb_run is None or not logs:
            return
        numbers = {f"{self.stage}/{k}": v for k, v in logs.items() if isinstance(v, int | float)}
        self.wandb_run.log({**numbers, f"{self.stage}/step": state.global_step})


class HeadLearningRateTrainer(Trainer):
    """A ``Trainer`` whose freshly initialised classification head learns at its own rate.

    multilingual-e5-small's last LayerNorm yields small features (per-dimension std ~0.14 on the Gui corpus), so at
    the encoder's rate (1e-4) Adam moves the head's logits by ~0.01 per step and the tagger sits at the all-O prior
    for hundreds of steps. The head's parameters (names starting with ``head_prefix``) get ``head_learning_rate``;
    the scheduler scales both groups alike.
    """

    def __init__(self, *args: Any, head_learning_rate: float | None = None, head_prefix: str = "classifier", **kw: Any):
        super().__init__(*args, **kw)
        self.head_learning_rate = head_learning_rate
        self.head_prefix = head_prefix

    def create_optimizer(self, model: Any = None) -> Any:
        optimizer = super().create_optimizer(model)
        if self.head_learning_rate is None:
            return optimizer
        named = (model if model is not None else self.model).named_parameters()
        head = {id(p) for name, p in named if name.startswith(self.head_prefix)}
        if not head:
            raise ValueError(f"head_learning_rate is set but no parameter name starts with {self.head_prefix!r}")
        head_groups = []
        for group in optimizer.param_groups:
            mine = [p for p in group["params"] if id(p) in head]
            if mine:
                group["params"] = [p for p in group["params"] if id(p) not in head]
                settings = {k: v for k, v in group.items() if k != "params"}
                head_groups.append({**settings, "params": mine, "lr": self.head_learning_rate})
        for group in head_groups:
            optimizer.add_param_group(group)
        return optimizer


def freeze_lower(model: PreTrainedModel, word_embeddings: bool, layers: int) -> None:
    """Stop training the word embeddings and/or the embeddings plus the bottom ``layers`` encoder layers.

    Frozen bottom layers need no backward pass at all, which is what makes a CPU run of a 12-layer encoder shorter.
    """
    base = model.base_model
    if word_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    if layers <= 0:
        return
    encoder_layers = getattr(getattr(base, "encoder", None), "layer", None)
    if encoder_layers is None or not hasattr(base, "embeddings"):
        raise ValueError(f"freeze_layers needs a BERT-like encoder (embeddings + encoder.layer), got {type(base)}")
    if layers > len(encoder_layers):
        raise ValueError(f"freeze_layers={layers} but the encoder has {len(encoder_layers)} layers")
    for module in (base.embeddings, *encoder_layers[:layers]):
        module.requires_grad_(False)


def training_arguments(
    trainer_cfg: Mapping[str, Any] | DictConfig, output_dir: Path, seed: int, data_seed: int, best_metric: str
) -> TrainingArguments:
    """TrainingArguments from ``stageN.trainer`` (any field) plus what the pipeline fixes: dirs, epochs, best model."""
    kwargs: dict[str, Any] = (
        OmegaConf.to_container(trainer_cfg, resolve=True) if isinstance(trainer_cfg, DictConfig) else dict(trainer_cfg)
    )  # type: ignore[assignment]
    clashes = sorted(set(kwargs) & set(FIXED_ARGUMENTS))
    if clashes:
        raise ValueError(f"trainer settings {clashes} are fixed by the baseline pipeline; remove them from the config")
    strategy = "steps" if kwargs.get("eval_steps") else "epoch"
    return TrainingArguments(
        output_dir=str(output_dir),
        seed=seed,
        data_seed=data_seed,
        eval_strategy=strategy,
        save_strategy=strategy,
        load_best_model_at_end=True,
        metric_for_best_model=best_metric,
        greater_is_better=True,
        save_total_limit=kwargs.pop("save_total_limit", 1),
        report_to="none",
        **kwargs,
    )


def train_or_load(
    stage_dir: Path,
    build_trainer: Callable[[TrainingArguments], Trainer],
    load_model: Callable[[str], PreTrainedModel],
    args: TrainingArguments,
    resume: bool,
    save_model: bool,
) -> StageResult:
    """Train (resuming from the last checkpoint when asked) or load the stage's saved model."""
    model_dir = stage_dir / "model"
    record = stage_dir / TRAINING_RECORD
    if resume and (model_dir / "config.json").exists():
        log.info("%s: model already trained, loading %s", stage_dir.name, model_dir)
        saved = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        return StageResult(load_model(str(model_dir)), **saved)
    trainer = build_trainer(args)
    checkpoints = Path(args.output_dir)
    last = get_last_checkpoint(str(checkpoints)) if resume and checkpoints.is_dir() else None
    if last:
        log.info("%s: resuming from %s", stage_dir.name, last)
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=last)
    seconds = time.perf_counter() - started
    if save_model:
        trainer.save_model(str(model_dir))
        if trainer.processing_class is not None:
            trainer.processing_class.save_pretrained(model_dir)
    shutil.rmtree(checkpoints, ignore_errors=True)
    summary = {
        "seconds": seconds,
        "steps": trainer.state.global_step,
        "loss": output.training_loss,
        "best_metric": trainer.state.best_metric,
        "log_history": list(trainer.state.log_history),
    }
    if save_model:  # a resumed run reports the training it skipped
        record.write_text(json.dumps(summary), encoding="utf-8")
    return StageResult(model=trainer.model, **summary)
