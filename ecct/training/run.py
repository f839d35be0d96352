"""One training run, start to finish: corpus -> prompts -> LoRA/QLoRA SFT -> generate on test -> parse -> metrics.

``ecct.train`` wraps this in Hydra and W&B (``ecct.runs.job.run_job``); everything it produces is also written to
``run_dir``:
``adapter/``, ``predictions.jsonl``, ``metrics.json``, ``dev_metrics.jsonl``, ``train_log.jsonl`` (and, when it
fails after training started, ``adapter-last/`` and ``test_documents.jsonl``: ``ecct.training.recovery``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from peft import LoraConfig
from transformers import set_seed
from trl import SFTConfig

from ecct.augment import augment_training_set
from ecct.data.corpus import load_corpus
from ecct.decoding.generate import GenerationSettings
from ecct.inference.documents import predict_documents
from ecct.metrics import compute_metrics
from ecct.models import load_model, load_tokenizer, resolve_model_path
from ecct.output.showcase import format_examples
from ecct.prompts import PromptConfig
from ecct.runs.job import peak_memory_mb, publish_results
from ecct.runs.parts import run_parts
from ecct.settings import flag, load_settings
from ecct.training.datasets import build_sft_dataset
from ecct.training.memory import check_training_memory
from ecct.training.recovery import Recovery, latest_checkpoint
from ecct.training.selection import DEV_F1, Selection, choose_selection, selection_summary
from ecct.training.shared_prefix import SharedPrefixSettings
from ecct.training.trainer import GenerativeEvalSFTTrainer

log = logging.getLogger(__name__)


def lora_config(cfg: DictConfig) -> LoraConfig | None:
    if cfg.peft.method == "none":
        return None
    targets = cfg.peft.target_modules
    return LoraConfig(
        r=cfg.peft.r,
        lora_alpha=cfg.peft.alpha,
        lora_dropout=cfg.peft.dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        task_type="CAUSAL_LM",
    )


def selection_for(cfg: DictConfig, n_dev_documents: int | None = None) -> Selection:
    """How ``cfg`` picks the tested checkpoint (``ecct.training.selection``); dev documents counted when known."""
    if n_dev_documents is None:
        n_dev_documents = 0 if cfg.eval.get("max_dev_documents") == 0 else 1
    return choose_selection(flag(cfg.eval, "generate_during_training", True, "eval"), n_dev_documents)


def sft_config(cfg: DictConfig, run_dir: Path, report_to: str, selection: Selection | None = None) -> SFTConfig:
    trainer_kwargs: dict[str, Any] = OmegaConf.to_container(cfg.trainer, resolve=True)  # type: ignore[assignment]
    selection = selection or selection_for(cfg)
    return SFTConfig(
        output_dir=str(run_dir / "checkpoints"),
        seed=cfg.seed,
        data_seed=cfg.data_seed,
        **selection.trainer_arguments(),
        report_to=report_to,
        run_name=cfg.get("run_name"),
        include_num_input_tokens_seen="non_padding",
        **trainer_kwargs,
    )


def run(cfg: DictConfig, run_dir: Path, wandb_run: Any | None) -> dict[str, Any]:
    """Train, select the tested checkpoint, test it; returns the metrics also written to metrics.json.

    Once an optimizer step has run, a failure saves the trained adapter before it propagates
    (``ecct.training.recovery``).
    """
    set_seed(cfg.seed)
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    train_docs, dev_docs, test_docs = run_parts(corpus, cfg)
    if cfg.eval.get("max_dev_documents") == 0:  # run_parts reads 0 as no cap; here it means no dev evaluation
        dev_docs = []
    n_train_original = len(train_docs)
    # Only the training part is augmented: dev and test documents never reach the augmenter.
    train_docs, augment_report = augment_training_set(train_docs, cfg, split_name=corpus.split.name)
    if wandb_run is not None:
        wandb_run.summary.update(augment_report)

    selection = selection_for(cfg, len(dev_docs))
    # Built before the model loads, so transformers' own checks of the trainer.* settings fail fast.
    args = sft_config(cfg, run_dir, "wandb" if cfg.logger.get("enabled", True) else "none", selection)
    log.info("%s", selection.describe())
    prompt_cfg = PromptConfig.from_config(cfg.prompt)
    model_path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(cfg.model, model_path)
    max_length = cfg.trainer.get("max_length")
    skip_longer = flag(cfg.data, "skip_longer", False, "data")
    shared_prefix = load_settings(SharedPrefixSettings, cfg.get("shared_prefix"), "shared_prefix")
    train_ds, train_report = build_sft_dataset(train_docs, prompt_cfg, tokenizer, max_length, skip_longer=skip_longer)
    memory = check_training_memory(
        cfg, model_path, train_report.longest_kept, train_report.shared_prefix, shared_prefix
    )
    dev_ds = None
    if selection.evaluates:
        dev_ds, _ = build_sft_dataset(dev_docs, prompt_cfg, tokenizer, max_length, skip_longer=skip_longer, name="dev")
    model = load_model(cfg.model, cfg.peft, model_path)
    generation = GenerationSettings.from_config(cfg.eval)

    trainer = GenerativeEvalSFTTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=dev_ds,
        processing_class=tokenizer,
        peft_config=lora_config(cfg),
        dev_documents=dev_docs if selection.name == DEV_F1 else [],
        prompt_config=prompt_cfg,
        generation=generation,
        dev_log=run_dir / "dev_metrics.jsonl",
        shared_prefix=shared_prefix,
        compact_lm_head=flag(cfg, "compact_lm_head", True, ""),
    )
    last = latest_checkpoint(trainer.args.output_dir) if cfg.resume else None
    if last:
        log.info("resuming from %s", last)
    recovery = Recovery(
        run_dir,
        test_docs,
        constrained=generation.constrained,
        cause_clauses=generation.cause_clauses,
        cause_outside_emotion=generation.cause_outside_emotion,
    )
    try:
        started = time.perf_counter()
        train_output = trainer.train(resume_from_checkpoint=last)
        train_seconds = time.perf_counter() - started
        trainer.save_model(str(run_dir / "adapter"))  # rank 0 only, under DDP/FSDP
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(run_dir / "adapter")
        recovery.adapter = run_dir / "adapter"
        dev_summary = selection_summary(selection, trainer.state, run_dir / "dev_metrics.jsonl")
        # Every rank decodes the test part (greedy, identical results); only rank 0 writes.
        records, parsed = predict_documents(
            trainer.model, tokenizer, test_docs, prompt_cfg, generation, description="test generation"
        )
        test_scores = compute_metrics(test_docs, parsed)
        if not trainer.is_world_process_zero():
            return {f"test/{k}": v for k, v in test_scores.items()}
        steps = max(trainer.state.global_step, 1)
        metrics: dict[str, Any] = {
            **{f"test/{k}": v for k, v in test_scores.items()},
            **dev_summary,
            "train/steps": trainer.state.global_step,
            "train/world_size": trainer.args.world_size,
            "train/loss": train_output.training_loss,
            "train/seconds": train_seconds,
            "train/seconds_per_step": train_seconds / steps,
            "train/tokens_per_second": trainer.state.num_input_tokens_seen / max(train_seconds, 1e-9),
            "train/examples": train_report.kept,
            "train/examples_skipped_too_long": train_report.skipped,
            **trainer.prefix_stats.as_dict(),
            "peak_memory_mb": peak_memory_mb(),
            "memory/estimated_peak_mb": None if memory is None else round(memory.peak_gb * 1000),
            "data/split": corpus.split.name,
            "data/n_train": len(train_docs),  # including synthetic documents
            "data/n_train_original": n_train_original,
            "data/n_dev": len(dev_docs),
            "data/n_test": len(test_docs),
            "data/skipped_records": corpus.skipped.total,
            **augment_report,
        }
        publish_results(run_dir, metrics, records, wandb_run, trainer.state.log_history)
    except (Exception, KeyboardInterrupt) as err:
        recovery.save_and_explain(trainer, tokenizer, err)
        raise
    log.info(
        "test triplet F1 %.4f (word-level %.4f); outputs in %s",
        test_scores["span/triplet/f1"],
        test_scores["word/triplet/f1"],
        run_dir,
    )
    shown = int(cfg.eval.get("show_examples") or 0)
    if shown > 0:
        log.info("%s", format_examples(records, shown))
    return metrics
