"""What ``python -m ecct.predict`` does: a trained run + inputs -> prediction records (+ metrics on gold input)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from omegaconf import DictConfig

from ecct.inference.inputs import PredictError, read_inputs
from ecct.runs.locate import locate_run

log = logging.getLogger(__name__)


def predict(cfg: DictConfig) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Prediction records for the configured inputs, and metrics when the input carries gold triplets."""
    from ecct.decoding.generate import GenerationSettings
    from ecct.inference.documents import document_prompts, predict_documents, read_outputs
    from ecct.inference.loading import load_for_inference
    from ecct.inference.vllm_backend import choose_backend, generate_vllm
    from ecct.metrics import compute_metrics
    from ecct.prompts import PromptConfig

    if cfg.get("adapter") is None:
        raise PredictError("adapter=...: give a training run directory (or its adapter/, or a merged model)")
    run = locate_run(cfg.adapter)
    inputs = read_inputs(cfg.get("text"), cfg.get("input"), cfg.text_file_mode, cfg.get("language"), cfg.lenient)
    if inputs.skipped.total:
        print(inputs.skipped, file=sys.stderr)
    # The command line's settings, else the run's eval.* (prefix_cache and progress: the command line's only).
    settings = GenerationSettings.from_config(
        {key: value for key, value in run.config.get("eval", {}).items() if key not in ("prefix_cache", "progress")},
        max_new_tokens=cfg.get("max_new_tokens"),
        batch_size=cfg.get("batch_size"),
        constrained=cfg.get("constrained"),
        progress=cfg.progress,
        prefix_cache=cfg.prefix_cache,
    )
    prompt_cfg = PromptConfig.from_config(run.config.prompt)
    backend = choose_backend(cfg.backend, settings.constrained)
    log.info("%d documents, backend %s, %s", len(inputs.documents), backend, settings)
    docs = inputs.documents
    if backend == "vllm":
        outputs = generate_vllm(run, document_prompts(docs, prompt_cfg), settings.max_new_tokens, settings.progress)
        records, parsed = read_outputs(docs, outputs, prompt_cfg)
    else:
        model, tokenizer = load_for_inference(run, cfg.device, cfg.get("load_in_4bit"))
        records, parsed = predict_documents(model, tokenizer, docs, prompt_cfg, settings, "extracting")
    if not inputs.labelled:
        records = [{k: v for k, v in record.items() if k != "gold"} for record in records]
        return records, None
    return records, compute_metrics(docs, parsed)
