"""The two-step baseline, start to finish: corpus -> stage 1 (span tagger) -> stage 2 (pair classifier) -> test.

Same corpus, split, metrics and on-disk outputs as ``ecct.training.run.run``: ``metrics.json`` (``test/``-prefixed
keys from ``ecct.metrics.compute_metrics`` on the pipeline's text triplets), ``predictions.jsonl`` (the record
format of ``ecct.inference.documents``, ``output`` being the triplets in the lines format), ``train_log.jsonl`` (both
stages' trainer logs, each entry tagged with its stage) and the two models under ``stage1/model`` and
``stage2/model``. Errors of stage 1 propagate into stage 2; ``test/gold_spans/...`` scores stage 2 alone on the
gold emotion x gold cause candidates, ``test/stage2/pairs/...`` on training-like pairs (``ecct.baseline.stage2_eval``).

``stage2_only=true`` skips stage 1: stage 2 is trained and scored on gold spans only (``test/gold_spans/...``,
``test/stage2/pairs/...``; ``predictions.jsonl`` holds its gold-span triplets), a probe of stage 2 alone.
``stageN.model_dir`` loads a stage's saved model (``<run>/stageN/model``) instead of training it.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed

from ecct.baseline import stage1, stage2
from ecct.baseline.bio import CAUSE, EMOTION, KindSpan, document_spans
from ecct.baseline.encoder import load_encoder_tokenizer, resolve_encoder_path
from ecct.baseline.pairs import PairSettings, all_training_pairs, candidate_pairs, label_counts
from ecct.baseline.stage2_eval import Scorer, evaluate
from ecct.baseline.training import TRAINING_RECORD, StageLogCallback, StageResult, train_or_load, training_arguments
from ecct.data.corpus import load_corpus
from ecct.data.model import Document
from ecct.metrics import compute_metrics
from ecct.metrics.scoring import prf
from ecct.output.formats import serialize
from ecct.output.records import prediction_record
from ecct.runs.job import peak_memory_mb, publish_results
from ecct.runs.parts import run_parts
from ecct.settings import flag

log = logging.getLogger(__name__)

__all__ = ["candidate_pairs", "run", "span_scores"]


def span_scores(documents: Sequence[Document], predicted: Mapping[str, Sequence[KindSpan]]) -> dict[str, float]:
    """Stage 1 alone: exact-match P/R/F1 of emotion and cause spans (by offsets), micro over documents."""
    scores: dict[str, float] = {}
    for kind, name in ((EMOTION, "emotion"), (CAUSE, "cause")):
        tp = n_pred = n_gold = 0
        for doc in documents:
            gold = {s for s in document_spans(doc) if s.kind == kind}
            pred = {s for s in predicted.get(doc.id, []) if s.kind == kind}
            tp, n_pred, n_gold = tp + len(gold & pred), n_pred + len(pred), n_gold + len(gold)
        p, r, f1 = prf(tp, n_pred, tp, n_gold)
        scores |= {f"{name}/precision": p, f"{name}/recall": r, f"{name}/f1": f1}
    return scores


def _saved_stage(name: str, module: Any, model_dir: str) -> StageResult:
    """``stageN.model_dir``: a stage's saved model, with its ``training.json`` numbers when it has one."""
    folder = Path(model_dir)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"{name}.model_dir={model_dir!r}: no saved model there (expected <run>/{name}/model)")
    record = folder.parent / TRAINING_RECORD
    saved = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
    log.info("%s: loading the saved model %s instead of training one", name, folder)
    return StageResult(module.load_model(str(folder)), **saved)


def _train_stage(
    name: str,
    module: Any,
    stage_cfg: DictConfig,
    cfg: DictConfig,
    run_dir: Path,
    model_path: str,
    tokenizer: PreTrainedTokenizerBase,
    train_docs: Sequence[Document],
    dev_docs: Sequence[Document],
    wandb_run: Any | None,
) -> StageResult:
    if stage_cfg.get("model_dir"):
        return _saved_stage(name, module, stage_cfg.model_dir)
    stage_dir = run_dir / name
    args = training_arguments(stage_cfg.trainer, stage_dir / "checkpoints", cfg.seed, cfg.data_seed, module.BEST_METRIC)
    freeze_embeddings = flag(stage_cfg, "freeze_word_embeddings", False, name)
    freeze = (freeze_embeddings, int(stage_cfg.get("freeze_layers", 0)))
    if stage_cfg.get("max_train_documents"):
        train_docs = train_docs[: stage_cfg.max_train_documents]
    inputs = (
        {"max_length": stage_cfg.max_length, "stride": stage_cfg.stride}
        if name == "stage1"
        else {"settings": PairSettings.from_config(stage_cfg)}
    )

    def build(arguments: Any) -> Any:
        set_seed(cfg.seed)  # the same initial classifier head whether or not the other stage ran first
        pooling = {"pooling": stage_cfg.get("pooling", "spans")} if name == "stage2" else {}
        model = module.load_model(model_path, *freeze, **pooling)
        callbacks = [StageLogCallback(wandb_run, name)] if wandb_run is not None else None
        head_lr = stage_cfg.get("head_learning_rate")
        return module.build_trainer(
            model, tokenizer, arguments, train_docs, dev_docs, callbacks=callbacks, head_learning_rate=head_lr, **inputs
        )

    return train_or_load(
        stage_dir,
        build,
        lambda path: module.load_model(path),
        args,
        resume=flag(cfg, "resume", True, ""),
        save_model=flag(cfg, "save_models", True, ""),
    )


def _stage_metrics(name: str, result: StageResult) -> dict[str, Any]:
    return {
        f"{name}/seconds": result.seconds,
        f"{name}/steps": result.steps,
        f"{name}/loss": result.loss,
        f"{name}/dev_best": result.best_metric,
    }


def _train_pair_counts(train_docs: Sequence[Document], cfg: DictConfig) -> dict[str, int]:
    """``stage2/train_pairs/...``: the training pairs stage 2 sees (or saw), positive and negative."""
    if cfg.stage2.get("max_train_documents"):
        train_docs = train_docs[: cfg.stage2.max_train_documents]
    counts = label_counts(all_training_pairs(train_docs, PairSettings.from_config(cfg.stage2)))
    return {f"stage2/train_pairs/{k}": v for k, v in counts.items()}


def _predict_spans(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, docs: Sequence[Document], cfg: DictConfig
) -> dict[str, list[KindSpan]]:
    return stage1.predict_spans(model, tokenizer, docs, cfg.stage1.max_length, cfg.stage1.stride, cfg.eval.batch_size)


def run(cfg: DictConfig, run_dir: Path, wandb_run: Any | None) -> dict[str, Any]:
    """Train both stages (or stage 2 alone), predict the test part; returns the metrics also in metrics.json."""
    set_seed(cfg.seed)
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    train_docs, dev_docs, test_docs = run_parts(corpus, cfg)
    only_stage2 = flag(cfg, "stage2_only", False, "")

    model_path = resolve_encoder_path(cfg.encoder)
    tokenizer = load_encoder_tokenizer(model_path)
    common = (cfg, run_dir, model_path, tokenizer, train_docs, dev_docs, wandb_run)

    gold = {
        part: {doc.id: document_spans(doc) for doc in docs} for part, docs in (("dev", dev_docs), ("test", test_docs))
    }
    sources: dict[str, dict[str, Mapping[str, Sequence[KindSpan]]]] = {"gold_spans": gold}
    first = None
    if not only_stage2:
        first = _train_stage("stage1", stage1, cfg.stage1, *common)
        tuned_on_dev = cfg.stage2.get("none_threshold", "dev") == "dev"
        tuned_on_dev &= cfg.stage2.get("tune_threshold_on", "candidates") == "candidates"
        sources["pipeline"] = {  # dev spans only when the threshold is tuned on stage 1's dev candidates
            "dev": _predict_spans(first.model, tokenizer, dev_docs, cfg) if tuned_on_dev else {},
            "test": _predict_spans(first.model, tokenizer, test_docs, cfg),
        }
        del first.model  # free stage 1 before stage 2 trains: peak memory is one model plus its optimiser
        gc.collect()

    second = _train_stage("stage2", stage2, cfg.stage2, *common)
    scorer = Scorer(
        second.model,
        tokenizer,
        PairSettings.from_config(cfg.stage2),
        cfg.eval.batch_size,
        cfg.stage2.get("max_pairs_per_document"),
    )
    evaluation = evaluate(
        scorer,
        dev_docs,
        test_docs,
        sources,
        cfg.stage2.get("none_threshold", "dev"),
        str(cfg.stage2.get("tune_threshold_on", "candidates")),
    )
    main_source = "gold_spans" if only_stage2 else "pipeline"
    results = evaluation.results[main_source]
    records = [prediction_record(doc, serialize(results[doc.id].text_triplets), results[doc.id]) for doc in test_docs]
    log_entries = [{"stage": "stage1", **e} for e in first.log_history] if first else []
    log_entries += [{"stage": "stage2", **e} for e in second.log_history]

    oracle_scores = compute_metrics(test_docs, evaluation.results["gold_spans"])
    metrics: dict[str, Any] = {}
    if first is not None:
        test_scores = compute_metrics(test_docs, results)
        metrics |= {f"test/{k}": v for k, v in test_scores.items()}
        metrics |= {f"test/stage1/{k}": v for k, v in span_scores(test_docs, sources["pipeline"]["test"]).items()}
        metrics |= _stage_metrics("stage1", first)
    else:
        metrics["method"] = "bert_stage2_only"  # its own row in ecct.report, never averaged with full pipelines
    metrics |= {
        **{
            f"test/gold_spans/{k}": oracle_scores[k]
            for k in oracle_scores
            if k.endswith(("/f1", "/precision", "/recall"))
        },
        **evaluation.metrics,
        **_stage_metrics("stage2", second),
        **_train_pair_counts(train_docs, cfg),
        "stage2_only": only_stage2,
        "train/seconds": (first.seconds if first else 0.0) + second.seconds,
        "peak_memory_mb": peak_memory_mb(),
        "encoder": model_path,
        "data/split": corpus.split.name,
        "data/n_train": len(train_docs),
        "data/n_dev": len(dev_docs),
        "data/n_test": len(test_docs),
        "data/skipped_records": corpus.skipped.total,
    }
    publish_results(run_dir, metrics, records, wandb_run, log_entries)
    pairs = evaluation.metrics
    log.info(
        "stage 2 on the test part's labelled pairs: pair F1 %.4f, relation F1 %.4f, category accuracy %s",
        pairs["test/stage2/pairs/f1"],
        pairs["test/stage2/pairs/relation/f1"],
        pairs["test/stage2/pairs/category_accuracy"],
    )
    if first is not None:
        log.info(
            "test triplet F1 %.4f (word-level %.4f); with gold spans %.4f; outputs in %s",
            metrics["test/span/triplet/f1"],
            metrics["test/word/triplet/f1"],
            oracle_scores["span/triplet/f1"],
            run_dir,
        )
    else:
        log.info(
            "stage 2 alone: test triplet F1 with gold spans %.4f; outputs in %s",
            oracle_scores["span/triplet/f1"],
            run_dir,
        )
    return metrics
