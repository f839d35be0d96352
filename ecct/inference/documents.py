"""Generate -> parse -> score for a list of documents: used for dev evaluation during training and the test part.

A prediction record is what ``predictions.jsonl`` holds per document (the format ``ecct.evaluate`` reads):
``{"id", "text", "output", "triplets": [{emotion, cause, category, emotion_span, cause_span}], "violations",
"gold"}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ecct.data.model import Document
from ecct.formats import as_text_triplets
from ecct.generate import GenerationSettings, generate
from ecct.metrics import compute_metrics
from ecct.parsing import ParseResult, parse_output
from ecct.prompts import PromptConfig, build_messages


def _triplet_dicts(triplets: Sequence[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [{"emotion": e, "cause": c, "category": k} for e, c, k in triplets]


def prediction_record(document: Document, output: str, parsed: ParseResult) -> dict[str, Any]:
    record = parsed.to_dict()
    return {
        "id": document.id,
        "text": document.text,
        "output": output,
        "triplets": record["triplets"],
        "violations": record["violations"],
        "gold": _triplet_dicts(as_text_triplets(document.triplets)),
    }


def predict_documents(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    documents: Sequence[Document],
    prompt_cfg: PromptConfig,
    settings: GenerationSettings,
    description: str = "generating",
) -> tuple[list[dict[str, Any]], dict[str, ParseResult]]:
    """Records (for predictions.jsonl and W&B) and parse results by document id (for metrics)."""
    prompts = [build_messages(doc.text, prompt_cfg) for doc in documents]
    texts = [doc.text for doc in documents]  # constrained decoding copies spans from these
    fmt = prompt_cfg.output_format
    outputs = generate(model, tokenizer, prompts, settings, description, documents=texts, output_format=fmt)
    pairs = list(zip(documents, outputs, strict=True))
    parsed = {doc.id: parse_output(out, doc.text, prompt_cfg.output_format) for doc, out in pairs}
    records = [prediction_record(doc, out, parsed[doc.id]) for doc, out in pairs]
    return records, parsed


def evaluate_documents(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    documents: Sequence[Document],
    prompt_cfg: PromptConfig,
    settings: GenerationSettings,
    description: str = "generating",
) -> tuple[dict[str, float | int], list[dict[str, Any]]]:
    records, parsed = predict_documents(model, tokenizer, documents, prompt_cfg, settings, description)
    return compute_metrics(list(documents), parsed), records


def write_jsonl(records: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
