"""Stage 2's classifier on real Gui pairs with the embedded multilingual-e5-small: it must learn more than the prior.

The bug this guards against (issue 16's probe, outputs/baseline/bert-stage2-probe-400): the classifier read e5's
``[CLS]`` through an identity pooler, raw. e5's ``[CLS]`` is nearly one vector for every candidate of a document and
its features share a large common component, so the head learnt the class prior: every gold pair got the majority
category and P(none) was the same for all pairs. Here the encoder is frozen (its outputs computed once, so the test
is fast) and everything after it (pooling, head) trains as the pipeline trains it; through ``[CLS]`` it stays at
the majority category of these 20 documents (0.36) with gold pairs ranked as "none"-like as the negatives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

import ecct.baseline.__main__  # noqa: F401  (registers the resolver the baseline config's searchpath uses)
from ecct.baseline import stage2
from ecct.baseline.encoder import convert_e5_small, load_encoder_tokenizer
from ecct.baseline.training import training_arguments
from ecct.data.corpus import load_corpus
from ecct.data.paths import REPO_ROOT

N_DOCUMENTS = 20  # split20 #1 training documents: 137 pairs, 22 of them gold


class FrozenEncoder(nn.Module):
    """Stands in for a frozen encoder: its eval-mode outputs for the given inputs, computed once, looked up by ids."""

    def __init__(self, encoder: nn.Module, rows: list[list[int]], pad_id: int, batch_size: int = 16):
        super().__init__()
        self.cache: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor | None]] = {}
        encoder.eval()
        for first in range(0, len(rows), batch_size):
            batch = rows[first : first + batch_size]
            width = max(len(r) for r in batch)
            ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in batch])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in batch])
            with torch.no_grad():
                out = encoder(input_ids=ids, attention_mask=mask)
            pooled = getattr(out, "pooler_output", None)
            for i, r in enumerate(batch):
                self.cache[tuple(r)] = (out.last_hidden_state[i, : len(r)], None if pooled is None else pooled[i])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: object) -> BaseModelOutputWithPooling:
        hidden, pooled = [], []
        for ids, mask in zip(input_ids, attention_mask, strict=True):
            states, cls = self.cache[tuple(ids[mask.bool()].tolist())]
            hidden.append(nn.functional.pad(states, (0, 0, 0, len(ids) - len(states))))
            pooled.append(cls)
        stacked = None if pooled[0] is None else torch.stack(pooled)
        return BaseModelOutputWithPooling(last_hidden_state=torch.stack(hidden), pooler_output=stacked)


@pytest.fixture(scope="module")
def gui_docs(data_dir: Path) -> list:
    corpus = load_corpus(OmegaConf.load(REPO_ROOT / "conf" / "data" / "gui2016.yaml"), data_dir)
    return corpus.part("train")[:N_DOCUMENTS]


def test_stage2_on_a_frozen_e5_learns_real_categories_and_ranks_gold_pairs_first(
    gui_docs, compose_config, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cfg = compose_config("logger=none", conf_dir=REPO_ROOT / "conf" / "baseline")
    path = str(convert_e5_small())
    tokenizer = load_encoder_tokenizer(path)
    settings = stage2.PairSettings.from_config(cfg.stage2)  # the default inputs: documents read whole
    pairs = stage2.all_training_pairs(gui_docs, settings)
    rows = stage2.encode_pairs(pairs, gui_docs, tokenizer, settings)["input_ids"]
    torch.manual_seed(0)
    model = stage2.load_model(path)  # what the pipeline trains (its default pooling)
    setattr(model, model.base_model_prefix, FrozenEncoder(model.base_model, rows, tokenizer.pad_token_id))
    trainer_cfg = OmegaConf.to_container(cfg.stage2.trainer) | {"max_steps": 60, "logging_steps": 10}
    trainer_cfg |= {"eval_steps": 10_000, "save_steps": 10_000, "disable_tqdm": True}  # no evaluation: learning only
    args = training_arguments(trainer_cfg, tmp_path / "ckpt", seed=0, data_seed=0, best_metric=stage2.BEST_METRIC)
    head_rate = cfg.stage2.head_learning_rate
    stage2.build_trainer(model, tokenizer, args, gui_docs, gui_docs, settings, head_learning_rate=head_rate).train()

    probabilities = stage2.pair_probabilities(model, tokenizer, pairs, gui_docs, settings)
    labels = np.array([p.label for p in pairs])
    gold = labels > 0
    majority = float((labels[gold] == np.bincount(labels[gold]).argmax()).mean())
    accuracy = stage2.category_accuracy(probabilities, labels)
    # How often a gold pair is less "none" than a negative (0.5: no better than chance).
    ranked = float((probabilities[gold, 0][:, None] < probabilities[~gold, 0][None, :]).mean())
    assert accuracy is not None and accuracy >= majority + 0.3, (accuracy, majority)  # [CLS]: accuracy == majority
    assert ranked >= 0.8, ranked  # [CLS]: 0.47
