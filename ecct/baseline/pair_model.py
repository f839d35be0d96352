"""Stage 2's classifier: the encoder's states of the two marked spans, pooled, then a linear head.

``pooling: spans`` (the default) is ``SpanPairClassifier``: the mean of the final hidden states over the emotion's
marked tokens (``<e>`` to ``</e>``) and over the cause's (``<c>`` to ``</c>``), concatenated, standardised per
feature (``classifier_norm``, a batch norm), dropout, one linear layer to ``none`` + the 6 categories.
``pooling: cls`` is ``AutoModelForSequenceClassification`` (the pooler over ``[CLS]``), the first stage 2's
classifier, kept to reproduce it.

Why (measured on Gui split20 #1 with multilingual-e5-small; the probe in issue 16 learnt only the class prior):

- ``[CLS]`` tells pairs apart too little: e5 was trained with mean pooling and has no pooler, its ``[CLS]`` state is
  nearly one vector for every input (mean pairwise cosine 0.997 within a document's candidates, whose inputs
  differ only in where four markers stand; 0.956 across documents). The marked spans' states differ by pair.
- e5's states share a large common component (per-feature spread across pairs ~0.05 against magnitudes ~0.17):
  fed raw to the head, that component's batch-to-batch noise dominates Adam's step sizes and the head creeps. Per
  feature standardisation removes it.

With the encoder frozen and the head alone trained 180 steps (batch 16, rate 3e-3) on 150 training documents'
pairs, dev category accuracy (majority class 0.21) was 0.21 through raw ``[CLS]`` (P(none) equal for all pairs, the
probe's symptom), 0.27 through raw spans, 0.39 through standardised ``[CLS]`` and 0.58 through standardised spans
(relation F1 0.26 -> 0.33).

The encoder is any ``AutoModel`` (``backbone``); a saved model is a normal folder (the encoder's config with
``architectures: [SpanPairClassifier]``, one safetensors file) that ``load_pair_model`` reads back.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

POOLINGS = ("spans", "cls")


def span_mean(hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """``hidden[b, spans[b, 0] : spans[b, 1]].mean(0)`` for each row ``b``: ``[B, T, H]``, ``[B, 2]`` -> ``[B, H]``."""
    positions = torch.arange(hidden.shape[1], device=hidden.device)
    inside = (positions[None, :] >= spans[:, :1]) & (positions[None, :] < spans[:, 1:2])
    weights = inside.to(hidden.dtype)
    return (hidden * weights[..., None]).sum(1) / weights.sum(1, keepdim=True).clamp(min=1.0)


class FeatureNorm(nn.BatchNorm1d):
    """Per-feature standardisation over the batch (running statistics at test time); a batch of one, which has no
    spread, is normalised with the running statistics instead of failing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return nn.functional.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)


class SpanPairClassifier(PreTrainedModel):
    """An encoder, then ``[mean(emotion span); mean(cause span)]`` -> ``classifier_norm`` -> dropout ->
    ``classifier`` (see the module doc); both head modules are named ``classifier*`` (they learn at the head's rate).
    """

    config_class = PretrainedConfig
    base_model_prefix = "backbone"

    def __init__(self, config: PretrainedConfig):
        super().__init__(config)
        self.backbone = AutoModel.from_config(config)
        if getattr(self.backbone, "pooler", None) is not None:
            self.backbone.pooler = None  # unused: no parameters that never get a gradient
        hidden = config.hidden_size
        rate = getattr(config, "classifier_dropout", None)
        if rate is None:
            rate = getattr(config, "hidden_dropout_prob", 0.1)
        self.classifier_norm = FeatureNorm(2 * hidden)
        self.dropout = nn.Dropout(rate)
        self.classifier = nn.Linear(2 * hidden, config.num_labels)
        self.post_init()

    @classmethod
    def from_encoder(cls, path: str, **config_kwargs: Any) -> SpanPairClassifier:
        """A fresh head on the pretrained encoder at ``path`` (a plain encoder folder or hub id)."""
        config = AutoConfig.from_pretrained(path, **config_kwargs)
        config.architectures = [cls.__name__]
        model = cls(config)
        encoder = AutoModel.from_pretrained(path)
        missing, unexpected = model.backbone.load_state_dict(encoder.state_dict(), strict=False)
        unexpected = [k for k in unexpected if not k.startswith("pooler.")]
        if missing or unexpected:
            raise ValueError(f"{path}: encoder weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return model

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        emotion_span: torch.Tensor | None = None,
        cause_span: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        if emotion_span is None or cause_span is None:
            raise ValueError("SpanPairClassifier needs emotion_span and cause_span (ecct.baseline.pair_input)")
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        hidden = self.backbone(**inputs).last_hidden_state
        pooled = torch.cat([span_mean(hidden, emotion_span), span_mean(hidden, cause_span)], dim=-1)
        logits = self.classifier(self.dropout(self.classifier_norm(pooled)))
        loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def is_span_pair_model(path: str) -> bool:
    """Whether ``path`` holds a saved ``SpanPairClassifier`` (rather than an encoder or a ``cls`` classifier)."""
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError):
        return False
    return SpanPairClassifier.__name__ in (getattr(config, "architectures", None) or [])


def load_pair_model(path: str, num_labels: int, id2label: dict[int, str], label2id: dict[str, int]) -> nn.Module:
    """A saved ``SpanPairClassifier`` as is, or a fresh head on the encoder at ``path``."""
    labels = {"num_labels": num_labels, "id2label": id2label, "label2id": label2id}
    if is_span_pair_model(path):
        return SpanPairClassifier.from_pretrained(path, config=AutoConfig.from_pretrained(path, **labels))
    return SpanPairClassifier.from_encoder(path, **labels)
