"""SFTTrainer on the tiny model: only adapters change, QLoRA trains in 4-bit, the stop token is learned and used."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from datasets import Dataset
from omegaconf import OmegaConf
from trl import SFTTrainer

from ecct.data.paths import REPO_ROOT
from ecct.data.readers import read_jsonl
from ecct.decoding.generate import GenerationSettings, generate
from ecct.models import load_model, load_tokenizer, resolve_model_path
from ecct.prompts import PromptConfig, build_example
from ecct.training.datasets import MaxLengthError, build_sft_dataset, example_length
from ecct.training.run import lora_config

DEMO = Path(__file__).resolve().parents[1] / "ecct" / "data" / "demo" / "demo.jsonl"
TINY = OmegaConf.load(REPO_ROOT / "conf" / "model" / "tiny.yaml")  # the tests' model is the config's
PROMPT = PromptConfig.from_config({"name": "desc", "components": ["description", "format"], "language": "en"})


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(TINY, resolve_model_path(TINY))


@pytest.fixture(scope="module")
def documents():
    return read_jsonl(DEMO).documents[:8]


def test_lora_step_changes_only_adapter_weights(tmp_path, tokenizer, documents, sft_args, peft_settings) -> None:
    dataset, _ = build_sft_dataset(documents, PROMPT, tokenizer, 1024)
    model = load_model(TINY, {"load_in_4bit": False})
    trainer = SFTTrainer(
        model=model,
        args=sft_args(tmp_path),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(peft_settings("lora")),
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p.detach())}
    lora_params = {n for n in before if "lora_" in n}
    assert lora_params, "no adapter parameters were created"
    assert changed, "no parameter changed"
    assert changed <= lora_params, f"frozen base weights changed: {sorted(changed - lora_params)[:3]}"
    # lora_A starts random and lora_B at zero; after two steps every B matrix has moved.
    assert {n for n in lora_params if "lora_B" in n} <= changed


def test_qlora_two_steps_in_4bit(tmp_path, tokenizer, documents, sft_args, peft_settings) -> None:
    pytest.importorskip("bitsandbytes")
    peft = peft_settings("qlora")
    model = load_model(TINY, peft.peft)
    assert getattr(model, "is_loaded_in_4bit", False)
    dataset, _ = build_sft_dataset(documents, PROMPT, tokenizer, 1024)
    trainer = SFTTrainer(
        model=model,
        args=sft_args(tmp_path),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(peft),
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    output = trainer.train()
    assert torch.isfinite(torch.tensor(output.training_loss))
    assert any(not torch.equal(before[n], p.detach()) for n, p in trainer.model.named_parameters() if n in before)
    assert type(trainer.model.base_model.model.model.layers[0].mlp.down_proj.base_layer).__name__ == "Linear4bit"


def test_end_of_turn_token_is_inside_completion_labels(tmp_path, tokenizer, documents, sft_args, peft_settings) -> None:
    dataset, _ = build_sft_dataset(documents, PROMPT, tokenizer, 1024)
    model = load_model(TINY, {"load_in_4bit": False})
    trainer = SFTTrainer(model=model, args=sft_args(tmp_path), train_dataset=dataset, processing_class=tokenizer)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert eos == tokenizer.eos_token_id and eos != tokenizer.pad_token_id
    for row in trainer.train_dataset:
        labels = [t for t in row["labels"] if t != -100]
        assert eos in labels, "the end-of-turn token is not trained on"
        # Only the completion is supervised: the prompt's own end-of-turn tokens are masked.
        assert len(labels) < len(row["input_ids"])
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    for input_ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        supervised = input_ids[labels != -100].tolist()
        assert supervised.count(eos) == 1 and tokenizer.pad_token_id not in supervised


def test_generation_stops_after_learning_a_short_answer(tmp_path, tokenizer, sft_args, peft_settings) -> None:
    """Overfit one short example: greedy decoding must reproduce the completion and then stop at end-of-turn."""
    prompt = [{"role": "user", "content": "Document: She was afraid of the dark."}]
    target = "(afraid, the dark, Fear)"
    dataset = Dataset.from_list([{"prompt": prompt, "completion": [{"role": "assistant", "content": target}]}] * 4)
    model = load_model(TINY, {"load_in_4bit": False})
    args = sft_args(tmp_path, max_steps=40, learning_rate=1e-2, lr_scheduler_type="constant")
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    budget = len(tokenizer(target)["input_ids"]) + 20
    [output] = generate(trainer.model, tokenizer, [prompt], GenerationSettings(max_new_tokens=budget, progress=False))
    assert output == target  # nothing after the triplet: decoding stopped at the learned end-of-turn token


def test_max_length_that_cuts_gold_completions_is_an_error(tokenizer, documents) -> None:
    with pytest.raises(MaxLengthError, match=r"longer than trainer.max_length=40 \(longest: \d+ tokens"):
        build_sft_dataset(documents, PROMPT, tokenizer, 40)
    lengths = sorted(example_length(tokenizer, build_example(doc, PROMPT)) for doc in documents)
    limit = lengths[len(lengths) // 2]
    dataset, report = build_sft_dataset(documents, PROMPT, tokenizer, limit, skip_longer=True)
    assert report.kept == len(dataset) == sum(n <= limit for n in lengths)
    assert report.skipped == sum(n > limit for n in lengths) > 0
    assert report.longest == lengths[-1]
