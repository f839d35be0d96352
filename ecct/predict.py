"""Triplets for new text from a trained run: ``python -m ecct.predict adapter=<run dir> input=docs.jsonl``.

Also installed as ``ecct-extract``. Hydra-style ``key=value`` arguments (``conf/predict.yaml``):

- ``adapter``: a training run directory (its ``config.yaml`` names the base model and the prompt; its
  ``adapter/`` holds the LoRA adapter, or the whole model after full fine-tuning), that run's ``adapter/``
  folder, or a folder written by ``python -m ecct.merge``.
- ``text="..."``: one document; or ``input=FILE``: ``.jsonl`` (ecct corpus records, whose gold triplets are
  kept and scored, or ``{"id", "text"[, "language"]}`` lines; other keys are ignored), or any other file as
  plain text, one document per non-blank line (``text_file_mode=whole``: the whole file is one document).
- ``output=FILE`` (JSON Lines; default: standard output). One record per document, in input order::

      {"id", "text", "output", "triplets": [{"emotion", "cause", "category",
       "emotion_span": {"start", "end", "text"} | null, "cause_span": ...}], "violations": [{"kind", "detail",
       "line"}], "gold": [...]}   # gold only for labelled corpus input

  A span that is not verbatim in the text has ``null`` offsets and a ``not_verbatim`` violation.
  The file is also what ``python -m ecct.evaluate`` scores.

Generation is ``ecct.generate.generate`` (the path training and testing use): batched by length, shared
prefix cache, greedy; ``constrained=true`` copies spans verbatim. ``backend=vllm`` (``pip install .[vllm]``,
a GPU) serves the base model with the LoRA adapter through vLLM with prefix caching instead.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ecct.data.errors import DataError, SkipReport
from ecct.data.model import Document

log = logging.getLogger(__name__)

BACKENDS = ("auto", "transformers", "vllm")
TEXT_FILE_MODES = ("lines", "whole")
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for ``max_lora_rank``: the adapter's rank is rounded up to one of them."""

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CORPUS_ONLY_KEYS = {"triplets", "source", "meta"}


class PredictError(ValueError):
    """A prediction request that cannot work; the message names the argument or file and what to change."""


# ---- the run -----------------------------------------------------------------------------------------------


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
        raise PredictError(f"adapter={str(path)!r}: no such directory")
    run_dir = path if (path / "config.yaml").is_file() else path.parent
    if not (run_dir / "config.yaml").is_file():
        raise PredictError(
            f"adapter={str(path)!r}: expected a training run directory (config.yaml + adapter/), its adapter/ "
            f"folder, or a folder written by `python -m ecct.merge`; found no config.yaml in {path} or its parent"
        )
    config = OmegaConf.load(run_dir / "config.yaml")
    assert isinstance(config, DictConfig)
    for key in ("model", "prompt"):
        if key not in config:
            raise PredictError(f"{run_dir / 'config.yaml'}: lacks the {key!r} section of a training config")
    adapter = path if path != run_dir else run_dir / "adapter"
    if (adapter / "adapter_config.json").is_file():
        return RunArtifacts(config, adapter, None)
    if (adapter / "config.json").is_file():
        return RunArtifacts(config, None, adapter)
    if path == run_dir and not adapter.exists() and (run_dir / "config.json").is_file():
        return RunArtifacts(config, None, None)  # a merged folder: its config.yaml names the folder as the model
    if not adapter.exists():
        raise PredictError(f"{run_dir}: no adapter/ folder (has the training run finished?)")
    raise PredictError(f"{adapter}: neither a PEFT adapter (adapter_config.json) nor a model (config.json)")


def load_for_inference(run: RunArtifacts, device: str = "auto", load_in_4bit: bool | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) as the run trained them: the base (4-bit for QLoRA unless told) plus its adapter."""
    import torch

    from ecct.models import load_model, load_tokenizer, resolve_model_path

    model_cfg, peft_cfg = run.config.model, run.config.get("peft", {})
    base_path = resolve_model_path(model_cfg)
    tokenizer = load_tokenizer(model_cfg, base_path)
    quantized = bool(peft_cfg.get("load_in_4bit")) if load_in_4bit is None else load_in_4bit
    quant_cfg = {**OmegaConf.to_container(peft_cfg, resolve=True), "load_in_4bit": quantized} if peft_cfg else {}
    model = load_model(model_cfg, quant_cfg, str(run.model_dir) if run.model_dir else base_path)
    if run.adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(run.adapter_dir))
    target = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if not quantized:
        model = model.to(target)
    model.eval()
    return model, tokenizer


# ---- inputs ------------------------------------------------------------------------------------------------


def guess_language(text: str) -> str:
    """``zh`` when the text has CJK ideographs, else ``en`` (only the prompt and the records use it)."""
    return "zh" if _CJK.search(text) else "en"


@dataclass
class Inputs:
    documents: list[Document]
    labelled: bool  # gold triplets were given (ecct corpus records)
    skipped: SkipReport


def read_inputs(
    text: str | None = None,
    path: str | Path | None = None,
    text_file_mode: str = "lines",
    language: str | None = None,
    lenient: bool = False,
) -> Inputs:
    """Documents from ``text`` or a file (see the module docstring); bad lines raise unless ``lenient``."""
    if (text is None) == (path is None):
        raise PredictError('give exactly one of text="..." or input=FILE')
    if language is not None and language not in ("zh", "en"):
        raise PredictError(f"language={language!r}: expected zh, en or null (guess from the text)")
    if text is not None:
        if not text.strip():
            raise PredictError("text=...: the text is blank")
        doc = Document(id="text", text=text, language=language or guess_language(text), source="cli")
        return Inputs([doc], False, SkipReport("text"))
    path = Path(path)  # type: ignore[arg-type]
    if not path.is_file():
        raise PredictError(f"input={str(path)!r}: no such file")
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl_inputs(path, language, lenient)
    if text_file_mode not in TEXT_FILE_MODES:
        raise PredictError(f"text_file_mode={text_file_mode!r}: expected one of {TEXT_FILE_MODES}")
    content = path.read_text(encoding="utf-8")
    if text_file_mode == "whole":
        if not content.strip():
            raise PredictError(f"{path}: the file is blank")
        pieces = [(1, content.strip())]
    else:
        pieces = [(n, line.strip()) for n, line in enumerate(content.splitlines(), start=1) if line.strip()]
    documents = [
        Document(id=f"line-{n}", text=piece, language=language or guess_language(piece), source=str(path))
        for n, piece in pieces
    ]
    if not documents:
        raise PredictError(f"{path}: no non-blank line to extract from")
    return Inputs(documents, False, SkipReport(str(path)))


def _read_jsonl_inputs(path: Path, language: str | None, lenient: bool) -> Inputs:
    from ecct.data.readers.base import RecordSink
    from ecct.data.readers.jsonl import parse_record

    sink = RecordSink(path, lenient=lenient)
    labelled = False
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        location = f"line {number}"
        try:
            record = json.loads(line)
            if isinstance(record, dict) and _CORPUS_ONLY_KEYS & set(record):
                document = parse_record(sink, line, location)  # a full corpus record, validated, id claimed
                labelled = labelled or "triplets" in record
            else:
                document = _simple_record(sink, record, number, language)
                sink.claim_id(document.id, location)
            sink.documents.append(document)
        except json.JSONDecodeError as err:
            sink.skip(sink.error(location, f"malformed JSON ({err.msg}, column {err.colno})", "malformed json"))
        except DataError as err:
            sink.skip(err)
    if not sink.documents:
        raise PredictError(f"{path}: no document to extract from ({sink.skipped.total} bad lines skipped)")
    return Inputs(sink.documents, labelled, sink.skipped)


def _simple_record(sink: Any, record: Any, number: int, language: str | None) -> Document:
    location = f"line {number}"
    if not isinstance(record, dict):
        raise sink.error(location, f"expected a JSON object, got {type(record).__name__}", "malformed record")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise sink.error(location, "'text' must be a non-blank string", "malformed record")
    raw_id = record.get("id", f"line-{number}")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise sink.error(location, f"'id' must be a string or an integer, got {raw_id!r}", "malformed record")
    lang = record.get("language") or language or guess_language(text)
    if lang not in ("zh", "en"):
        raise sink.error(location, f"'language' must be zh or en, got {lang!r}", "unknown language")
    return Document(id=str(raw_id), text=text, language=lang, source="jsonl")


# ---- vLLM --------------------------------------------------------------------------------------------------


def vllm_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


def vllm_lora_rank(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that fits an adapter of rank ``rank``."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise PredictError(f"LoRA rank {rank} exceeds vLLM's largest max_lora_rank {VLLM_LORA_RANKS[-1]}")


def vllm_engine_args(run: RunArtifacts, base_path: str, max_model_len: int | None = None) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM``: the base (or full fine-tuned) model, LoRA on, prefix caching on."""
    model_cfg = run.config.model
    args: dict[str, Any] = {
        "model": str(run.model_dir) if run.model_dir else base_path,
        "tokenizer": base_path,
        "dtype": str(model_cfg.get("dtype") or "auto"),
        "trust_remote_code": bool(model_cfg.get("trust_remote_code")),
        "enable_prefix_caching": True,  # the shared instruction is computed once per engine
        "seed": 0,
    }
    if max_model_len:
        args["max_model_len"] = int(max_model_len)
    rank = run.lora_rank
    if rank is not None:
        args.update(enable_lora=True, max_loras=1, max_lora_rank=vllm_lora_rank(rank))
    return args


def vllm_sampling_args(max_new_tokens: int, stop_ids: Sequence[int]) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams``: greedy, the training stop tokens, special tokens stripped."""
    return {
        "temperature": 0.0,
        "max_tokens": int(max_new_tokens),
        "stop_token_ids": list(stop_ids),
        "skip_special_tokens": True,
    }


def generate_vllm(run: RunArtifacts, prompts: Sequence[Any], max_new_tokens: int, progress: bool) -> list[str]:
    """Greedy completions through vLLM, prompts rendered with the training chat template (token ids)."""
    if not vllm_available():
        raise PredictError("backend=vllm needs vLLM: pip install '.[vllm]' (a CUDA GPU is required)")
    from vllm import LLM, SamplingParams  # type: ignore[import-not-found]
    from vllm.lora.request import LoRARequest  # type: ignore[import-not-found]

    from ecct.generate import render_prompts
    from ecct.models import load_tokenizer, resolve_model_path

    base_path = resolve_model_path(run.config.model)
    tokenizer = load_tokenizer(run.config.model, base_path)
    encoded = render_prompts(tokenizer, prompts)
    stops = sorted({tokenizer.eos_token_id, *_configured_stops(base_path)} - {None})
    llm = LLM(**vllm_engine_args(run, base_path))
    lora = LoRARequest("ecct-adapter", 1, str(run.adapter_dir)) if run.adapter_dir else None
    results = llm.generate(
        [{"prompt_token_ids": ids} for ids in encoded],
        SamplingParams(**vllm_sampling_args(max_new_tokens, stops)),
        lora_request=lora,
        use_tqdm=progress,
    )
    return [result.outputs[0].text.strip() for result in results]


def _configured_stops(model_path: str) -> list[int]:
    try:
        from transformers import GenerationConfig

        configured = GenerationConfig.from_pretrained(model_path).eos_token_id
    except OSError:
        return []
    return [configured] if isinstance(configured, int) else list(configured or [])


def choose_backend(requested: str, constrained: bool) -> str:
    """``transformers`` or ``vllm``; ``auto`` picks vLLM when installed, on a GPU, and decoding is unconstrained."""
    if requested not in BACKENDS:
        raise PredictError(f"backend={requested!r}: expected one of {BACKENDS}")
    if requested == "vllm":
        if constrained:
            raise PredictError("constrained=true runs on the transformers backend only; set backend=transformers")
        return "vllm"
    if requested == "transformers" or constrained or not vllm_available():
        return "transformers"
    import torch

    return "vllm" if torch.cuda.is_available() else "transformers"


# ---- the command -------------------------------------------------------------------------------------------


def predict(cfg: DictConfig) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Prediction records for the configured inputs, and metrics when the input carries gold triplets."""
    from ecct.evaluation import predict_documents, prediction_record
    from ecct.generate import GenerationSettings
    from ecct.metrics import compute_metrics
    from ecct.parsing import parse_output
    from ecct.prompts import PromptConfig, build_messages

    if cfg.get("adapter") is None:
        raise PredictError("adapter=...: give a training run directory (or its adapter/, or a merged model)")
    run = locate_run(cfg.adapter)
    inputs = read_inputs(cfg.get("text"), cfg.get("input"), cfg.text_file_mode, cfg.get("language"), cfg.lenient)
    if inputs.skipped.total:
        print(inputs.skipped, file=sys.stderr)
    run_eval = run.config.get("eval", {})
    settings = GenerationSettings(
        max_new_tokens=int(_pick(cfg.get("max_new_tokens"), run_eval.get("max_new_tokens"), 256)),
        batch_size=int(_pick(cfg.get("batch_size"), run_eval.get("batch_size"), 8)),
        progress=bool(cfg.progress),
        constrained=bool(_pick(cfg.get("constrained"), run_eval.get("constrained"), False)),
        prefix_cache=bool(cfg.prefix_cache),
    )
    prompt_cfg = PromptConfig.from_config(run.config.prompt)
    backend = choose_backend(cfg.backend, settings.constrained)
    log.info("%d documents, backend %s, %s", len(inputs.documents), backend, settings)
    docs = inputs.documents
    if backend == "vllm":
        prompts = [build_messages(doc.text, prompt_cfg) for doc in docs]
        outputs = generate_vllm(run, prompts, settings.max_new_tokens, settings.progress)
        pairs = list(zip(docs, outputs, strict=True))
        parsed = {doc.id: parse_output(out, doc.text, prompt_cfg.output_format) for doc, out in pairs}
        records = [prediction_record(doc, out, parsed[doc.id]) for doc, out in pairs]
    else:
        model, tokenizer = load_for_inference(run, cfg.device, cfg.get("load_in_4bit"))
        records, parsed = predict_documents(model, tokenizer, docs, prompt_cfg, settings, "extracting")
    if not inputs.labelled:
        records = [{k: v for k, v in record.items() if k != "gold"} for record in records]
        return records, None
    return records, compute_metrics(docs, parsed)


def _pick(*values: Any) -> Any:
    return next(v for v in values if v is not None)


def write_records(records: Sequence[dict[str, Any]], output: str | None) -> None:
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if output is None:
        sys.stdout.write(lines)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(lines, encoding="utf-8")
    print(f"{len(records)} predictions written to {path}", file=sys.stderr)


def run(cfg: DictConfig) -> int:
    try:
        records, metrics = predict(cfg)
    except (PredictError, DataError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write_records(records, cfg.get("output"))
    if metrics is not None:
        from ecct.metrics import format_table

        print(format_table(metrics), file=sys.stderr)
    return 0


_HYDRA_ESCAPE = re.compile(r"(\\*)('|$)")


def _escape(match: re.Match[str]) -> str:
    # Hydra's quoted strings: a quote, and backslashes before a quote or the end, are escaped with a backslash.
    return match.group(1) * 2 + ("\\'" if match.group(2) else "")


def quote_free_text(argv: Sequence[str]) -> list[str]:
    """Quote the value of ``text=...`` for Hydra's override grammar, which rejects most non-ASCII unquoted text."""
    quoted = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key.lstrip("+~") == "text" and not (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""):
            arg = f"{key}='" + _HYDRA_ESCAPE.sub(_escape, value.replace("${", "\\${")) + "'"
        quoted.append(arg)
    return quoted


def main() -> None:
    import hydra

    sys.argv[1:] = quote_free_text(sys.argv[1:])

    @hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
    def _main(cfg: DictConfig) -> None:
        logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        code = run(cfg)
        if code:
            sys.exit(code)

    _main()


if __name__ == "__main__":
    main()
