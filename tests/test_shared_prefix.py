"""Shared-prefix training equals the plain batch: loss within 1e-5 and every gradient within 1e-4 (relative), with
LoRA, QLoRA and full fine-tuning, chunked rows, gradient accumulation and whole Trainer steps; rows stay apart."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import _peft_settings, _sft_args
from omegaconf import OmegaConf
from safetensors.torch import load_file
from trl import SFTConfig, SFTTrainer

from ecct.data.paths import REPO_ROOT
from ecct.data.readers import read_jsonl
from ecct.models import load_model, load_tokenizer, resolve_model_path
from ecct.prompts import PromptConfig
from ecct.training.datasets import build_sft_dataset
from ecct.training.run import lora_config
from ecct.training.shared_prefix import IGNORE_INDEX, SharedPrefixMixin, shared_prefix_length

DEMO = REPO_ROOT / "ecct" / "data" / "demo" / "demo.jsonl"
TINY = OmegaConf.load(REPO_ROOT / "conf" / "model" / "tiny.yaml")
EMBEDDED = OmegaConf.load(REPO_ROOT / "conf" / "model" / "smollm2_135m.yaml")
PROMPT = PromptConfig.from_config({"name": "full", "components": ["description", "rules", "workflow", "format"]})

LOSS_TOLERANCE = 1e-5
GRAD_TOLERANCE = 1e-4
# TRL keeps QLoRA adapters in bfloat16 (as the QLoRA paper does): their gradients agree to bfloat16 precision.
BF16_GRAD_TOLERANCE = 1e-2


class FastTrainer(SharedPrefixMixin, SFTTrainer):
    pass


def sft_args(tmp_path: Path, **overrides) -> SFTConfig:
    """The shared tiny-run arguments, with the longer prompts and a fixed order these comparisons need."""
    base = {"per_device_train_batch_size": 3, "max_length": 2048, "train_sampling_strategy": "sequential"}
    return _sft_args(tmp_path, **(base | overrides))


def build_trainer(model_cfg, method: str, tmp_path: Path, documents, **args) -> FastTrainer:
    path = resolve_model_path(model_cfg)
    tokenizer = load_tokenizer(model_cfg, path)
    dataset, _ = build_sft_dataset(documents, PROMPT, tokenizer, 2048)
    torch.manual_seed(0)
    model = load_model(model_cfg, _peft_settings(method).peft, path)
    return FastTrainer(
        model=model,
        args=sft_args(tmp_path, **args),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(_peft_settings(method)),
    )


def loss_and_grads(trainer: FastTrainer, batch: dict, shared: bool, chunk: int | None = None, items=None):
    trainer.shared_prefix, trainer.rows_per_chunk = shared, chunk
    model = trainer.model
    model.train()
    model.zero_grad()
    loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=items)
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    return float(loss.detach()), grads


def assert_same(plain, shared) -> None:
    (loss_a, grads_a), (loss_b, grads_b) = plain, shared
    assert abs(loss_a - loss_b) <= LOSS_TOLERANCE * abs(loss_a), (loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name, grad in grads_a.items():
        tolerance = BF16_GRAD_TOLERANCE if grad.dtype == torch.bfloat16 else GRAD_TOLERANCE
        diff = float((grad.float() - grads_b[name].float()).norm() / grad.float().norm().clamp(min=1e-30))
        assert diff <= tolerance, f"{name}: relative gradient difference {diff:.2e}"


@pytest.fixture(scope="module")
def documents():
    return read_jsonl(DEMO).documents[:6]


def first_batch(trainer: FastTrainer) -> dict:
    return next(iter(trainer.get_train_dataloader()))


# ---- the prefix itself ---------------------------------------------------------------------------------------


def test_prefix_stops_before_the_first_label_and_before_the_shortest_row() -> None:
    ids = torch.tensor([[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 9, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])
    unlabelled = torch.full_like(ids, IGNORE_INDEX)
    assert shared_prefix_length(ids, mask, unlabelled) == 4  # ids differ at 4
    labels = unlabelled.clone()
    labels[0, 3] = 4  # token 3 is supervised in row 0: its prediction needs position 2's output
    assert shared_prefix_length(ids, mask, labels) == 2
    same = torch.tensor([[1, 2, 3], [1, 2, 3]])
    assert shared_prefix_length(same, torch.ones_like(same), torch.full_like(same, IGNORE_INDEX)) == 2
    padded_early = torch.tensor([[1, 1, 0], [1, 1, 1]])  # a row ends after 2 tokens: 1 token left for its suffix
    assert shared_prefix_length(same, padded_early, torch.full_like(same, IGNORE_INDEX)) == 1


# ---- exactness -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["lora", "none", "qlora"])
def test_loss_and_gradients_equal_the_plain_batch(tmp_path, documents, method) -> None:
    trainer = build_trainer(TINY, method, tmp_path, documents)
    batch = first_batch(trainer)
    plain = loss_and_grads(trainer, batch, shared=False)
    shared = loss_and_grads(trainer, batch, shared=True)
    assert trainer.prefix_stats.shared_batches == 1
    assert trainer.prefix_stats.computed_tokens < 0.6 * trainer.prefix_stats.plain_tokens
    assert_same(plain, shared)


@pytest.mark.parametrize("chunk", [1, 2])
def test_rows_in_chunks_give_the_same_gradients(tmp_path, documents, chunk) -> None:
    trainer = build_trainer(TINY, "lora", tmp_path, documents)
    batch = first_batch(trainer)  # 3 rows: chunks of 1+1+1 or 2+1
    items = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
    for num_items in (None, items):  # Trainer passes the token count when it can, TRL normalises itself when not
        plain = loss_and_grads(trainer, batch, shared=False, items=num_items)
        assert_same(plain, loss_and_grads(trainer, batch, shared=True, chunk=chunk, items=num_items))
    stats = trainer.prefix_stats
    if chunk == 1:  # each row's pass is trimmed to the row: no padding is computed at all
        assert stats.computed_tokens == stats.needed_tokens
    assert stats.needed_tokens <= stats.computed_tokens < stats.plain_tokens


def test_each_row_sees_only_itself(tmp_path, documents) -> None:
    """The batch loss is the token-weighted mean of the rows' losses computed alone: no row attends to another."""
    trainer = build_trainer(TINY, "lora", tmp_path, documents)
    batch = first_batch(trainer)
    trainer.shared_prefix = True
    model = trainer.model
    model.eval()
    with torch.no_grad():
        together = float(trainer.compute_loss(model, dict(batch)))
        alone, weights = [], []
        for row in range(batch["input_ids"].size(0)):
            length = int(batch["attention_mask"][row].sum())
            single = {key: value[row : row + 1, :length] for key, value in batch.items()}
            trainer.shared_prefix = False  # one row: nothing to share
            alone.append(float(trainer.compute_loss(model, single)))
            weights.append(int((single["labels"][:, 1:] != IGNORE_INDEX).sum()))
    expected = sum(loss * w for loss, w in zip(alone, weights, strict=True)) / sum(weights)
    assert together == pytest.approx(expected, rel=LOSS_TOLERANCE)


def test_trainer_steps_with_gradient_accumulation_match_the_plain_path(tmp_path, documents) -> None:
    """Whole optimizer steps through ``Trainer.train`` (accumulation 2, rows in chunks): same weights after."""
    weights = []
    for shared in (False, True):
        trainer = build_trainer(
            TINY,
            "lora",
            tmp_path / str(shared),
            documents,
            per_device_train_batch_size=2,
            gradient_accumulation_steps=2,
        )
        trainer.shared_prefix, trainer.rows_per_chunk = shared, 1
        trainer.train()
        weights.append({n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad})
        if shared:
            assert trainer.prefix_stats.shared_batches == trainer.prefix_stats.batches >= 3
    for name, before in weights[0].items():
        assert torch.allclose(before, weights[1][name], rtol=1e-4, atol=1e-6), name


def test_embedded_model_loss_and_gradients_equal_the_plain_batch(tmp_path, data_dir) -> None:
    """SmolLM2-135M on real Gui documents with the full Chinese instruction (the paper's setting)."""
    from ecct.data.corpus import load_corpus

    data_cfg = OmegaConf.load(REPO_ROOT / "conf" / "data" / "gui2016.yaml")
    documents = load_corpus(data_cfg, str(data_dir)).part("train")[:2]
    zh = PromptConfig.from_config({"name": "full", "components": PROMPT.components, "language": "zh"})
    path = resolve_model_path(EMBEDDED)
    tokenizer = load_tokenizer(EMBEDDED, path)
    dataset, _ = build_sft_dataset(documents, zh, tokenizer, 2048)
    torch.manual_seed(0)
    trainer = FastTrainer(
        model=load_model(EMBEDDED, None, path),
        args=sft_args(tmp_path, per_device_train_batch_size=2),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(_peft_settings("lora")),
    )
    batch = first_batch(trainer)
    assert_same(loss_and_grads(trainer, batch, shared=False), loss_and_grads(trainer, batch, shared=True, chunk=1))


# ---- falling back ---------------------------------------------------------------------------------------------


def test_gradient_checkpointing_falls_back_to_the_plain_batch_and_says_why(tmp_path, documents, caplog) -> None:
    trainer = build_trainer(TINY, "lora", tmp_path, documents)
    trainer.model.gradient_checkpointing_enable()
    batch = first_batch(trainer)
    with caplog.at_level(logging.INFO, logger="ecct.training.shared_prefix"):
        loss_and_grads(trainer, batch, shared=True)
        loss_and_grads(trainer, batch, shared=True)
    assert trainer.prefix_stats.shared_batches == 0
    assert trainer.prefix_stats.fallbacks["gradient checkpointing is on (the model returns no cache in training)"] == 2
    assert sum("gradient checkpointing" in r.message for r in caplog.records) == 1  # logged once


def test_ddp_ranks_compute_their_own_prefix_and_train_the_same_weights(tmp_path) -> None:
    """Two gloo processes (torchrun), rows in chunks under ``no_sync``: the same adapter as the plain path."""

    adapters = {}
    for port, enabled in ((29541, "true"), (29542, "false")):
        run = tmp_path / enabled
        command = [
            *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port)),
            *("-m", "ecct.train", "+experiment=smoke", f"hydra.run.dir={run}", f"shared_prefix.enabled={enabled}"),
            "eval.max_new_tokens=8",
            "peft.dropout=0.0",  # dropout draws differ between the paths (one mask for the shared prefix)
        ]
        env = {**os.environ, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
        result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["train/world_size"] == 2
        assert (metrics["shared_prefix/shared_batches"] > 0) == (enabled == "true")
        adapters[enabled] = load_file(run / "adapter" / "adapter_model.safetensors")
    assert adapters["true"].keys() == adapters["false"].keys()
    for name, weight in adapters["false"].items():
        assert torch.allclose(weight, adapters["true"][name], rtol=1e-4, atol=1e-6), name
