"""What ``python -m ecct.predict`` does: a trained run + inputs -> prediction records (+ metrics on gold input).

Records are written batch by batch as they finish (``ecct.inference.output_file``); a document that cannot be
predicted is written as a skipped record with its reason; a stopped run resumes from its partial output.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ecct.inference.inputs import Inputs, PredictError, read_inputs
from ecct.runs.locate import locate_run
from ecct.settings import flag

log = logging.getLogger(__name__)

# predict.yaml's switches: real booleans (``lenient=no`` would be true under a plain truth test).
SWITCHES = (
    ("lenient", False),
    ("constrained", True),
    ("allow_empty", True),
    ("cause_outside_emotion", False),
    ("prefix_cache", True),
    ("progress", True),
    ("resume", True),
)
DECODING = {True: "constrained", False: "unconstrained"}
CONSTRAINED_NOTE = " (spans copied verbatim from the text; constrained=false turns it off)"
UNCONSTRAINED_NOTE = " (spans may not be in the text; constrained=true copies them verbatim)"


@dataclass
class PredictResult:
    records: list[dict[str, Any]]  # every record of the output (resumed, new, skipped), in input order
    metrics: dict[str, Any] | None  # only for labelled input
    header: dict[str, Any]  # the settings written as the output's first line
    predicted: int = 0
    resumed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, reason) of documents not predicted
    bad_lines: int = 0  # input lines skipped by lenient reading

    def summary(self, output: str | None) -> str:
        where = output or "standard output"
        total = self.predicted + self.resumed + len(self.skipped)
        lines = [
            f"predict: {total} documents: {self.predicted} predicted, {self.resumed} already in {where} (resumed), "
            f"{len(self.skipped)} skipped; decoding: {self.header['decoding']}"
            + (CONSTRAINED_NOTE if self.header["decoding"] == "constrained" else UNCONSTRAINED_NOTE)
        ]
        reasons = Counter(reason.split(":")[0].split(" (")[0] for _, reason in self.skipped)
        lines += [f"  {n:>6}  {reason}" for reason, n in reasons.most_common()]
        lines += [f"  skipped {doc_id}: {reason}" for doc_id, reason in self.skipped]
        if self.bad_lines:
            lines.append(f"  {self.bad_lines} bad input lines skipped (lenient=true), not counted above")
        return "\n".join(lines)


def switches(cfg: DictConfig) -> dict[str, bool]:
    """The command's boolean settings, checked: anything but true/false is an error naming the key."""
    values = {key: flag(cfg, key, default, "", PredictError) for key, default in SWITCHES}
    if cfg.get("load_in_4bit") is not None:
        flag(cfg, "load_in_4bit", False, "", PredictError)
    return values


def predict(cfg: DictConfig) -> PredictResult:
    """Predict the configured inputs into ``cfg.output`` (or standard output); metrics when there is gold."""
    from ecct.decoding.generate import GenerationSettings, generate
    from ecct.inference.documents import document_prompts, read_outputs
    from ecct.inference.loading import load_for_inference
    from ecct.inference.output_file import PredictionOutput
    from ecct.inference.vllm_backend import choose_backend, generate_vllm
    from ecct.metrics import compute_metrics
    from ecct.output.parsing import parse_output
    from ecct.output.records import HEADER_KEY, header_record, skipped_record
    from ecct.prompts import PromptConfig

    if cfg.get("adapter") is None:
        raise PredictError("adapter=...: give a training run directory (or its adapter/, or a merged model)")
    switch = switches(cfg)
    run = locate_run(cfg.adapter)
    inputs = read_inputs(cfg.get("text"), cfg.get("input"), cfg.text_file_mode, cfg.get("language"), switch["lenient"])
    if inputs.skipped.total or inputs.skipped.notes:
        print(inputs.skipped, file=sys.stderr)
    # The command line's settings, else the run's eval.* (prefix_cache, progress, constrained, allow_empty,
    # cause_outside_emotion, cause_clauses: the command's own).
    own = ("prefix_cache", "progress", "constrained", "allow_empty", "cause_outside_emotion")
    try:
        settings = GenerationSettings.from_config(
            {key: value for key, value in run.config.get("eval", {}).items() if key not in (*own, "cause_clauses")},
            max_new_tokens=cfg.get("max_new_tokens"),
            batch_size=cfg.get("batch_size"),
            cause_clauses=cfg.get("cause_clauses"),
            **{key: switch[key] for key in own},
        )
    except ValueError as err:
        raise PredictError(str(err).replace("eval.", "")) from None  # predict's keys have no eval. prefix
    prompt_cfg = PromptConfig.from_config(run.config.prompt)
    fmt = prompt_cfg.output_format
    if settings.constrained and fmt != "lines":
        raise PredictError(
            f"constrained decoding (the default) supports the lines output format only, and this run writes {fmt}: "
            "add constrained=false"
        )
    backend = choose_backend(cfg.backend, settings.constrained)
    header = header_record(_header(cfg, inputs, settings, backend, fmt))
    log.info("%d documents, backend %s, %s", len(inputs.documents), backend, settings)
    output = PredictionOutput(cfg.get("output"), header, resume=switch["resume"])
    parsed: dict[str, Any] = {}
    try:
        output.write([skipped_record(r.id, r.reason) for r in inputs.rejected if r.id not in output.done])
        docs_by_id = {doc.id: doc for doc in inputs.documents}
        for doc_id, record in output.done.items():
            if doc_id in docs_by_id and isinstance(record.get("output"), str):
                parsed[doc_id] = parse_output(record["output"], docs_by_id[doc_id].text, fmt)
        todo = [doc for doc in inputs.documents if doc.id not in output.done]

        def write(docs: list[Any], outputs: list[str]) -> None:
            records, results = read_outputs(docs, outputs, prompt_cfg)
            parsed.update(results)
            if not inputs.labelled:
                records = [{k: v for k, v in record.items() if k != "gold"} for record in records]
            output.write(records)

        if todo and backend == "vllm":
            write(
                todo, generate_vllm(run, document_prompts(todo, prompt_cfg), settings.max_new_tokens, settings.progress)
            )
        elif todo:
            model, tokenizer = load_for_inference(run, cfg.device, cfg.get("load_in_4bit"))
            generate(
                model,
                tokenizer,
                document_prompts(todo, prompt_cfg),
                settings,
                "extracting",
                documents=[doc.text for doc in todo],
                output_format=fmt,
                on_batch=lambda indices, outs: write([todo[i] for i in indices], outs),
            )
    finally:
        output.close()
    records = output.finish(inputs.order)
    resumed = sum(doc.id in output.done for doc in inputs.documents)
    metrics = compute_metrics(inputs.documents, parsed) if inputs.labelled else None
    return PredictResult(
        records,
        metrics,
        header[HEADER_KEY],
        predicted=len(todo),
        resumed=resumed,
        skipped=[(r.id, r.reason) for r in inputs.rejected],
        bad_lines=inputs.skipped.total,
    )


def _header(cfg: DictConfig, inputs: Inputs, settings: Any, backend: str, fmt: str) -> dict[str, Any]:
    source = cfg.get("input")
    return {
        "adapter": str(Path(cfg.adapter).resolve()),
        "input": str(Path(source).resolve()) if source is not None else f"text={cfg.text}",
        "input_kind": inputs.kind,
        "decoding": DECODING[settings.constrained],
        "cause_clauses": list(settings.cause_clauses) if settings.cause_clauses is not None else None,
        "allow_empty": settings.allow_empty,
        "cause_outside_emotion": settings.cause_outside_emotion,
        "backend": backend,
        "max_new_tokens": settings.max_new_tokens,
        "output_format": fmt,
    }
