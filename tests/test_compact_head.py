"""On CPU, TRL's fused LM head scores only the labelled positions (``ecct.training.compact_head``): the same loss and
gradients as TRL's every-position path, with the head run on the labelled rows alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import trl.kernels.chunked_logprob as kernels
import trl.trainer.utils as trl_utils
from test_shared_prefix import DEMO, PROMPT, TINY, assert_same, loss_and_grads

from ecct.data.readers import read_jsonl
from ecct.decoding.generate import GenerationSettings
from ecct.models import load_model, load_tokenizer, resolve_model_path
from ecct.training.compact_head import compact_lm_head_enabled, set_compact_lm_head
from ecct.training.datasets import build_sft_dataset
from ecct.training.run import lora_config
from ecct.training.trainer import GenerativeEvalSFTTrainer


@pytest.fixture(autouse=True)
def restore_default():
    yield
    set_compact_lm_head(True)  # what every training run sets


def build(tmp_path: Path, compact: bool) -> GenerativeEvalSFTTrainer:
    from conftest import _peft_settings
    from test_shared_prefix import sft_args

    path = resolve_model_path(TINY)
    tokenizer = load_tokenizer(TINY, path)
    dataset, _ = build_sft_dataset(read_jsonl(DEMO).documents[:6], PROMPT, tokenizer, 2048)
    torch.manual_seed(0)
    return GenerativeEvalSFTTrainer(
        model=load_model(TINY, _peft_settings("lora").peft, path),
        args=sft_args(tmp_path),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(_peft_settings("lora")),
        dev_documents=[],
        prompt_config=PROMPT,
        generation=GenerationSettings(),
        compact_lm_head=compact,
    )


def head_rows(monkeypatch) -> list[int]:
    """Rows of hidden states each call of TRL's chunked log-prob function receives."""
    seen: list[int] = []
    original = trl_utils._ChunkedLogProbFunction.apply

    def recording(hidden, *args):
        seen.append(hidden.size(0))
        return original(hidden, *args)

    monkeypatch.setattr(trl_utils._ChunkedLogProbFunction, "apply", recording)
    return seen


def test_the_trainer_switches_it_on_and_off(tmp_path) -> None:
    build(tmp_path, compact=False)
    assert not compact_lm_head_enabled()
    assert not trl_utils._use_triton(torch.device("cpu"))  # TRL's own answer is back
    build(tmp_path, compact=True)
    assert compact_lm_head_enabled()
    assert trl_utils._use_triton(torch.device("cpu"))
    assert kernels._use_triton(torch.device("cpu")) is False  # the kernels still pick torch tiles on CPU


@pytest.mark.parametrize("shared", [False, True])
def test_labelled_positions_only_same_loss_and_gradients(tmp_path, monkeypatch, shared) -> None:
    trainer = build(tmp_path, compact=True)
    batch = next(iter(trainer.get_train_dataloader()))
    seen = head_rows(monkeypatch)
    set_compact_lm_head(False)
    every = loss_and_grads(trainer, batch, shared=shared)
    set_compact_lm_head(True)
    compact = loss_and_grads(trainer, batch, shared=shared)
    assert_same(every, compact)
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    every_rows, compact_rows = seen
    assert compact_rows == labelled
    assert every_rows > 2 * compact_rows  # the prompt is most of a row: that is the saving
