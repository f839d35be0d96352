"""ecct.training.lengths: over-long conversations are counted against each limit (tokenizer only, no training)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from ecct.data.paths import REPO_ROOT
from ecct.data.readers import read_jsonl
from ecct.decoding.generate import render_prompts
from ecct.inference.documents import document_prompts
from ecct.models import load_tokenizer, resolve_model_path
from ecct.prompts import PromptConfig, build_example
from ecct.training.datasets import example_length
from ecct.training.lengths import model_context, part_lengths

DEMO = Path(__file__).resolve().parents[1] / "ecct" / "data" / "demo" / "demo.jsonl"
TINY = OmegaConf.load(REPO_ROOT / "conf" / "model" / "tiny.yaml")
PROMPT = PromptConfig.for_option("full", language="en")


def test_each_limit_counts_the_conversations_longer_than_it():
    path = resolve_model_path(TINY)
    tokenizer = load_tokenizer(TINY, path)
    documents = read_jsonl(DEMO).documents[:6]
    examples = sorted(example_length(tokenizer, build_example(doc, PROMPT)) for doc in documents)
    prompts = sorted(len(ids) for ids in render_prompts(tokenizer, document_prompts(documents, PROMPT)))
    # Limits just below the 3rd-longest example / prompt: exactly 3 over (when the lengths are distinct there).
    max_length, context = examples[3] - 1, prompts[3] - 1 + 10
    counts = part_lengths("test", documents, PROMPT, tokenizer, max_length, context, max_new_tokens=10)
    assert counts.documents == 6 and counts.longest_example == examples[-1] and counts.longest_prompt == prompts[-1]
    assert counts.mean_example == round(sum(examples) / 6, 1)
    assert prompts[0] < counts.mean_example and 0 < counts.mean_completion < counts.longest_completion
    assert counts.examples_over_max_length == sum(n > max_length for n in examples) >= 3
    assert counts.prompts_over_context == sum(n + 10 > context for n in prompts) >= 3
    # Every example is the prompt plus the completion, so the completion budget is what the example adds.
    assert 0 < counts.longest_completion <= counts.longest_example - prompts[0]
    unlimited = part_lengths("test", documents, PROMPT, tokenizer, None, None, max_new_tokens=10_000)
    assert (unlimited.examples_over_max_length, unlimited.prompts_over_context) == (0, 0)
    assert unlimited.completions_over_max_new_tokens == 0
    assert model_context(path) == 4096
