"""How many rendered conversations exceed ``trainer.max_length`` and the model's context; no weights are loaded.

    python -m ecct.training.lengths [data=ecf] [prompt=full] [trainer=cpu] [model=...] [eval.max_new_tokens=256]

Per split part: the training example (instruction + document + gold completion, rendered with the chat template
as ``ecct.training.datasets.example_ids`` renders it for SFTTrainer) against ``trainer.max_length`` and the
context (``max_position_embeddings`` of the model config); the generation prompt (``render_prompts``, what
prediction feeds the model) plus ``eval.max_new_tokens`` against the context; and the gold completion (its tokens
plus the end-of-turn token) against ``eval.max_new_tokens``: a longer answer is cut by generation. Training refuses
or counts over-long examples (``build_sft_dataset``); prediction checks neither limit, so this is where to look.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from transformers import AutoConfig, PreTrainedTokenizerBase

from ecct.data.model import Document
from ecct.decoding.generate import render_prompts
from ecct.inference.documents import document_prompts
from ecct.output.formats import serialize
from ecct.prompts import PromptConfig, build_example
from ecct.training.datasets import example_length


@dataclass(frozen=True)
class PartLengths:
    """Token counts of one part: longest example and prompt, and how many exceed each limit."""

    part: str
    documents: int
    longest_example: int
    longest_prompt: int
    examples_over_max_length: int
    examples_over_context: int
    prompts_over_context: int  # prompt + max_new_tokens > context: generation could run past the context
    longest_completion: int  # gold completion tokens + the end-of-turn token
    completions_over_max_new_tokens: int  # gold answers generation would cut
    mean_example: float  # the means set the cost: training tokens per document, generated tokens per answer
    mean_completion: float


def part_lengths(
    part: str,
    documents: Sequence[Document],
    prompt_cfg: PromptConfig,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int | None,
    context: int | None,
    max_new_tokens: int,
) -> PartLengths:
    """Count the over-long conversations of ``documents`` (``None`` limits count nothing)."""
    examples = [example_length(tokenizer, build_example(doc, prompt_cfg)) for doc in documents]
    prompts = [len(ids) for ids in render_prompts(tokenizer, document_prompts(documents, prompt_cfg))]
    completions = [
        len(tokenizer(serialize(doc.triplets, prompt_cfg.output_format), add_special_tokens=False)["input_ids"]) + 1
        for doc in documents
    ]

    def over(lengths: list[int], limit: int | None, extra: int = 0) -> int:
        return 0 if limit is None else sum(n + extra > limit for n in lengths)

    def mean(lengths: list[int]) -> float:
        return round(sum(lengths) / len(lengths), 1) if lengths else 0.0

    return PartLengths(
        part,
        len(documents),
        max(examples, default=0),
        max(prompts, default=0),
        over(examples, max_length),
        over(examples, context),
        over(prompts, context, max_new_tokens),
        max(completions, default=0),
        over(completions, max_new_tokens),
        mean(examples),
        mean(completions),
    )


def model_context(model_path: str) -> int | None:
    """``max_position_embeddings`` of the model config (None when it names none)."""
    return getattr(AutoConfig.from_pretrained(model_path), "max_position_embeddings", None)


def main(argv: Sequence[str] | None = None) -> int:
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from ecct.data.corpus import load_corpus
    from ecct.models import load_tokenizer, resolve_model_path

    overrides = list(sys.argv[1:] if argv is None else argv) or ["data=ecf"]
    with initialize_config_dir(str(Path(__file__).resolve().parents[2] / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    model_path = resolve_model_path(cfg.model)
    tokenizer = load_tokenizer(cfg.model, model_path)
    prompt_cfg = PromptConfig.from_config(cfg.prompt)
    max_length, context = cfg.trainer.get("max_length"), model_context(model_path)
    limits = f"trainer.max_length={max_length}, model context={context}, max_new_tokens={cfg.eval.max_new_tokens}"
    print(f"{corpus.name} ({prompt_cfg.name}, {prompt_cfg.language}): {limits}")
    for part in ("train", "valid", "test"):
        documents = corpus.part(part)
        if documents:
            counts = part_lengths(part, documents, prompt_cfg, tokenizer, max_length, context, cfg.eval.max_new_tokens)
            print(", ".join(f"{key} {value}" for key, value in asdict(counts).items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
