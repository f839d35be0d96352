"""Generate -> parse for a list of documents (scored with ``ecct.metrics.compute_metrics``): dev evaluation during
training, the test part, ``ecct.predict``.

A prediction record (``ecct.output.records``) is what ``predictions.jsonl`` holds per document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ecct.data.model import Document
from ecct.decoding.generate import GenerationSettings, Messages, generate
from ecct.output.parsing import ParseResult, parse_output
from ecct.output.records import prediction_record
from ecct.prompts import PromptConfig, build_messages


def document_prompts(documents: Sequence[Document], prompt_cfg: PromptConfig) -> list[Messages]:
    return [build_messages(doc.text, prompt_cfg) for doc in documents]


def read_outputs(
    documents: Sequence[Document], outputs: Sequence[str], prompt_cfg: PromptConfig
) -> tuple[list[dict[str, Any]], dict[str, ParseResult]]:
    """Model outputs (one per document, whichever backend wrote them) -> records and parse results by id."""
    pairs = list(zip(documents, outputs, strict=True))
    parsed = {doc.id: parse_output(out, doc.text, prompt_cfg.output_format) for doc, out in pairs}
    records = [prediction_record(doc, out, parsed[doc.id]) for doc, out in pairs]
    return records, parsed


def predict_documents(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    documents: Sequence[Document],
    prompt_cfg: PromptConfig,
    settings: GenerationSettings,
    description: str = "generating",
) -> tuple[list[dict[str, Any]], dict[str, ParseResult]]:
    """Records (for predictions.jsonl and W&B) and parse results by document id (for metrics)."""
    prompts = document_prompts(documents, prompt_cfg)
    texts = [doc.text for doc in documents]  # constrained decoding copies spans from these
    fmt = prompt_cfg.output_format
    outputs = generate(model, tokenizer, prompts, settings, description, documents=texts, output_format=fmt)
    return read_outputs(documents, outputs, prompt_cfg)
