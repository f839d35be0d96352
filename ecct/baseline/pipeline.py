"""The two-step baseline, start to finish: corpus -> stage 1 (span tagger) -> stage 2 (pair classifier) -> test.

Same corpus, split, metrics and on-disk outputs as ``ecct.training.run.run``: ``metrics.json`` (``test/``-prefixed
keys from ``ecct.metrics.compute_metrics`` on the pipeline's text triplets), ``predictions.jsonl`` (the record
format of ``ecct.inference.documents``, ``output`` being the triplets in the lines format), ``train_log.jsonl`` (both
stages' trainer logs, each entry tagged with its stage) and the two models under ``stage1/model`` and
``stage2/model``. Errors of stage 1 propagate into stage 2; ``test/gold_spans/...`` scores stage 2 alone on the
gold emotion x gold cause candidates, to show how much of the loss is stage 1's.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from transformers import PreTrainedModel, PreTrainedTokenizerBase, set_seed

from ecct.baseline import stage1, stage2
from ecct.baseline.bio import CAUSE, EMOTION, KindSpan, as_span, document_spans
from ecct.baseline.encoder import load_encoder_tokenizer, resolve_encoder_path
from ecct.baseline.training import StageLogCallback, StageResult, train_or_load, training_arguments
from ecct.data.corpus import load_corpus
from ecct.data.model import Document, Span
from ecct.metrics import compute_metrics
from ecct.metrics.scoring import prf
from ecct.output.formats import serialize
from ecct.output.parsing import ParseResult, PredictedTriplet
from ecct.output.records import prediction_record
from ecct.runs.job import peak_memory_mb, publish_results
from ecct.runs.parts import run_parts
from ecct.settings import flag

log = logging.getLogger(__name__)


def candidate_pairs(
    doc_index: int, emotions: Sequence[Span], causes: Sequence[Span], limit: int | None
) -> tuple[list[stage2.Pair], int]:
    """All emotion x cause pairs (identical spans excluded), nearest first, at most ``limit``; and how many dropped."""
    pairs = [stage2.Pair(doc_index, e, c) for e in emotions for c in causes if (e.start, e.end) != (c.start, c.end)]
    pairs.sort(key=lambda p: (min(abs(p.cause.start - p.emotion.end), abs(p.emotion.start - p.cause.end)), p.cause))
    if limit is None or len(pairs) <= limit:
        return pairs, 0
    return pairs[:limit], len(pairs) - limit


def split_kinds(text: str, spans: Sequence[KindSpan]) -> tuple[list[Span], list[Span]]:
    emotions = [as_span(text, s) for s in spans if s.kind == EMOTION]
    causes = [as_span(text, s) for s in spans if s.kind == CAUSE]
    return emotions, causes


def extract_triplets(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    documents: Sequence[Document],
    spans: Mapping[str, Sequence[KindSpan]],
    cfg: DictConfig,
    none_threshold: float | None = None,
) -> tuple[dict[str, ParseResult], dict[str, int]]:
    """Stage 2 over the candidates built from ``spans``: triplets per document id, plus candidate counts."""
    pairs: list[stage2.Pair] = []
    dropped = 0
    for i, doc in enumerate(documents):
        emotions, causes = split_kinds(doc.text, spans.get(doc.id, []))
        doc_pairs, n_dropped = candidate_pairs(i, emotions, causes, cfg.stage2.get("max_pairs_per_document"))
        pairs += doc_pairs
        dropped += n_dropped
    labels = stage2.classify_pairs(
        model,
        tokenizer,
        pairs,
        documents,
        cfg.stage2.max_length,
        cfg.stage2.context_chars,
        cfg.eval.batch_size,
        none_threshold,
    )
    found: dict[str, list[PredictedTriplet]] = {doc.id: [] for doc in documents}
    for pair, label in zip(pairs, labels, strict=True):
        if label != stage2.NO_RELATION:
            triplet = PredictedTriplet(pair.emotion.text, pair.cause.text, label, pair.emotion, pair.cause)
            found[documents[pair.doc_index].id].append(triplet)
    results = {doc_id: ParseResult(_distinct_in_text_order(ts)) for doc_id, ts in found.items()}
    counts = {"candidates": len(pairs), "candidates_dropped": dropped, "triplets": sum(map(len, found.values()))}
    return results, counts


def choose_none_threshold(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, dev_docs: Sequence[Document], cfg: DictConfig
) -> tuple[float | None, float | None]:
    """``stage2.none_threshold``: null (argmax), a number, or ``dev`` (the best pair F1 on the dev part's pairs)."""
    setting = cfg.stage2.get("none_threshold", "dev")
    if setting is None:
        return None, None
    if setting != "dev":
        return float(setting), None
    pairs = [
        p for i, doc in enumerate(dev_docs) for p in stage2.training_pairs(i, doc, cfg.stage2.negatives_per_emotion)
    ]
    probabilities = stage2.pair_probabilities(
        model, tokenizer, pairs, dev_docs, cfg.stage2.max_length, cfg.stage2.context_chars, cfg.eval.batch_size
    )
    threshold, f1 = stage2.tune_none_threshold(probabilities, [p.label for p in pairs])
    log.info("stage 2: P(none) threshold %.2f chosen on %d dev pairs (pair F1 %.4f)", threshold, len(pairs), f1)
    return threshold, f1


def _distinct_in_text_order(triplets: Sequence[PredictedTriplet]) -> list[PredictedTriplet]:
    """Text order; one triplet per distinct text (a span repeated elsewhere in the text scores the same)."""
    ordered = sorted(triplets, key=lambda t: (t.emotion_span.start, t.cause_span.start, t.category))  # type: ignore[union-attr]
    seen: set[tuple[str, str, str]] = set()
    distinct = []
    for triplet in ordered:
        if triplet.as_text() not in seen:
            seen.add(triplet.as_text())
            distinct.append(triplet)
    return distinct


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
    stage_dir = run_dir / name
    args = training_arguments(stage_cfg.trainer, stage_dir / "checkpoints", cfg.seed, cfg.data_seed, module.BEST_METRIC)
    freeze_embeddings = flag(stage_cfg, "freeze_word_embeddings", False, name)
    freeze = (freeze_embeddings, int(stage_cfg.get("freeze_layers", 0)))
    if stage_cfg.get("max_train_documents"):
        train_docs = train_docs[: stage_cfg.max_train_documents]
    inputs = (
        {"max_length": stage_cfg.max_length, "stride": stage_cfg.stride}
        if name == "stage1"
        else {
            "max_length": stage_cfg.max_length,
            "context_chars": stage_cfg.context_chars,
            "negatives_per_emotion": stage_cfg.negatives_per_emotion,
        }
    )

    def build(arguments: Any) -> Any:
        set_seed(cfg.seed)  # the same initial classifier head whether or not the other stage ran first
        model = module.load_model(model_path, *freeze)
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


def run(cfg: DictConfig, run_dir: Path, wandb_run: Any | None) -> dict[str, Any]:
    """Train both stages, predict the test part; returns the metrics also written to metrics.json."""
    set_seed(cfg.seed)
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    train_docs, dev_docs, test_docs = run_parts(corpus, cfg)

    model_path = resolve_encoder_path(cfg.encoder)
    tokenizer = load_encoder_tokenizer(model_path)
    common = (cfg, run_dir, model_path, tokenizer, train_docs, dev_docs, wandb_run)

    first = _train_stage("stage1", stage1, cfg.stage1, *common)
    spans = stage1.predict_spans(
        first.model, tokenizer, test_docs, cfg.stage1.max_length, cfg.stage1.stride, cfg.eval.batch_size
    )
    del first.model  # free stage 1 before stage 2 trains: peak memory is one model plus its optimiser
    gc.collect()

    second = _train_stage("stage2", stage2, cfg.stage2, *common)
    threshold, threshold_f1 = choose_none_threshold(second.model, tokenizer, dev_docs, cfg)
    results, counts = extract_triplets(second.model, tokenizer, test_docs, spans, cfg, threshold)
    gold_spans = {doc.id: document_spans(doc) for doc in test_docs}
    oracle, _ = extract_triplets(second.model, tokenizer, test_docs, gold_spans, cfg, threshold)

    records = [prediction_record(doc, serialize(results[doc.id].text_triplets), results[doc.id]) for doc in test_docs]
    log_entries = [{"stage": "stage1", **e} for e in first.log_history]
    log_entries += [{"stage": "stage2", **e} for e in second.log_history]

    test_scores = compute_metrics(test_docs, results)
    oracle_scores = compute_metrics(test_docs, oracle)
    metrics: dict[str, Any] = {
        **{f"test/{k}": v for k, v in test_scores.items()},
        **{f"test/stage1/{k}": v for k, v in span_scores(test_docs, spans).items()},
        **{
            f"test/gold_spans/{k}": oracle_scores[k]
            for k in oracle_scores
            if k.endswith(("/f1", "/precision", "/recall"))
        },
        **{f"test/stage2/{k}": v for k, v in counts.items()},
        **_stage_metrics("stage1", first),
        **_stage_metrics("stage2", second),
        "stage2/none_threshold": threshold,
        "stage2/dev_pair_f1_at_threshold": threshold_f1,
        "train/seconds": first.seconds + second.seconds,
        "peak_memory_mb": peak_memory_mb(),
        "encoder": model_path,
        "data/split": corpus.split.name,
        "data/n_train": len(train_docs),
        "data/n_dev": len(dev_docs),
        "data/n_test": len(test_docs),
        "data/skipped_records": corpus.skipped.total,
    }
    publish_results(run_dir, metrics, records, wandb_run, log_entries)
    log.info(
        "test triplet F1 %.4f (word-level %.4f); with gold spans %.4f; outputs in %s",
        test_scores["span/triplet/f1"],
        test_scores["word/triplet/f1"],
        oracle_scores["span/triplet/f1"],
        run_dir,
    )
    return metrics
