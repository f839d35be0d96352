"""Both stages learn (a tiny random BERT overfits 8 demo documents), and stage 2's pairs and inputs are right."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from ecct.baseline import stage1, stage2
from ecct.baseline.bio import document_spans
from ecct.baseline.encoder import build_tiny_bert, load_encoder_tokenizer
from ecct.baseline.pair_model import SpanPairClassifier, span_mean
from ecct.baseline.pipeline import candidate_pairs
from ecct.baseline.training import freeze_lower, training_arguments
from ecct.data.corpus import load_corpus
from ecct.data.model import Document, Span, Triplet
from ecct.data.paths import REPO_ROOT


@pytest.fixture(scope="module")
def tiny() -> tuple[str, object]:
    path = str(build_tiny_bert())
    return path, load_encoder_tokenizer(path)


@pytest.fixture(scope="module")
def demo_docs() -> list[Document]:
    corpus = load_corpus(OmegaConf.load(REPO_ROOT / "conf" / "data" / "demo.yaml"))
    return [doc for doc in corpus.documents if doc.language == "zh" and doc.triplets][:8]


def _args(tmp_path: Path, metric: str, epochs: int, batch_size: int, learning_rate: float) -> object:
    settings = {
        "num_train_epochs": epochs,
        "per_device_train_batch_size": batch_size,
        "learning_rate": learning_rate,
        "warmup_steps": 0.1,
        "logging_steps": 5,
        "eval_steps": 10_000,  # one evaluation at most: these tests are about learning, not selection
        "save_steps": 10_000,
        "use_cpu": True,
        "disable_tqdm": True,
    }
    return training_arguments(settings, tmp_path / "checkpoints", seed=0, data_seed=0, best_metric=metric)


def _losses(trainer: object) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]  # type: ignore[attr-defined]


def test_stage1_overfits_demo_documents_and_recovers_their_spans(tiny, demo_docs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, tokenizer = tiny
    torch.manual_seed(0)
    model = stage1.load_model(path)
    args = _args(tmp_path, stage1.BEST_METRIC, epochs=30, batch_size=4, learning_rate=5e-3)
    trainer = stage1.build_trainer(model, tokenizer, args, demo_docs, demo_docs, max_length=128, stride=16)
    trainer.train()
    losses = _losses(trainer)
    assert losses[-1] < 0.25 * losses[0], losses
    predicted = stage1.predict_spans(trainer.model, tokenizer, demo_docs, max_length=128, stride=16)
    recovered = [set(predicted[doc.id]) == set(document_spans(doc)) for doc in demo_docs]
    assert sum(recovered) >= 7, {doc.id: predicted[doc.id] for doc in demo_docs}


def test_stage2_overfits_and_predicts_the_gold_categories_of_gold_pairs(tiny, demo_docs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, tokenizer = tiny
    torch.manual_seed(0)
    # Trainable word embeddings: through frozen random ones a 2-layer model learns the categories far more slowly.
    model = stage2.load_model(path, freeze_word_embeddings=False)
    args = _args(tmp_path, stage2.BEST_METRIC, epochs=60, batch_size=16, learning_rate=1e-2)
    settings = stage2.PairSettings(96, "window", 30, negatives="nearest", negatives_per_emotion=0)
    trainer = stage2.build_trainer(model, tokenizer, args, demo_docs, demo_docs, settings)
    trainer.train()
    losses = _losses(trainer)
    assert losses[-1] < 0.25 * losses[0], losses
    pairs = [stage2.Pair(i, t.emotion, t.cause) for i, doc in enumerate(demo_docs) for t in doc.triplets]
    predicted = stage2.classify_pairs(trainer.model, tokenizer, pairs, demo_docs, settings)
    gold = [t.category for doc in demo_docs for t in doc.triplets]
    assert predicted == gold


def test_span_mean_averages_each_rows_own_token_range() -> None:
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)  # row 0: 0..3, row 1: 4..7
    pooled = span_mean(hidden, torch.tensor([[1, 3], [0, 1]]))
    assert pooled.flatten().tolist() == [1.5, 4.0]


def test_stage2_pools_the_marked_spans_and_reloads_as_it_was_trained(tiny, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, tokenizer = tiny
    model = stage2.load_model(path, freeze_word_embeddings=True)
    assert isinstance(model, SpanPairClassifier) and not model.get_input_embeddings().weight.requires_grad
    settings = stage2.PairSettings(max_length=64)
    pairs = stage2.training_pairs(0, DOC, settings)
    # The head reads the marked spans: pairs of one document differ in their cause, so do the head's inputs.
    seen: list[torch.Tensor] = []
    model.classifier.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    model.train()  # one training-mode pass: the feature norm's running statistics move off their start
    batch = tokenizer.pad(stage2.encode_pairs(pairs, [DOC], tokenizer, settings), return_tensors="pt")
    model(**batch)
    seen.clear()
    probabilities = stage2.pair_probabilities(model, tokenizer, pairs, [DOC], settings)
    features = torch.cat(seen)
    assert features.shape == (len(pairs), 2 * model.config.hidden_size)
    assert torch.cdist(features, features).fill_diagonal_(1.0).min() > 1e-3  # no two pairs alike
    assert int(model.classifier_norm.num_batches_tracked) == 1
    model.save_pretrained(tmp_path / "saved")
    again = stage2.load_model(str(tmp_path / "saved"))  # pooling from the saved folder
    assert isinstance(again, SpanPairClassifier)
    assert np.allclose(stage2.pair_probabilities(again, tokenizer, pairs, [DOC], settings), probabilities, atol=1e-6)
    # The first stage 2's classifier (the pooler over [CLS]) is still there, and a saved one reloads as such.
    first = stage2.load_model(path, pooling="cls")
    assert type(first).__name__ == "BertForSequenceClassification"
    first.save_pretrained(tmp_path / "first")
    assert type(stage2.load_model(str(tmp_path / "first"))).__name__ == "BertForSequenceClassification"
    assert stage2.pair_probabilities(first, tokenizer, pairs, [DOC], settings).shape == (len(pairs), 7)
    with pytest.raises(ValueError, match="pooling"):
        stage2.load_model(path, pooling="mean")


def test_freezing_stops_gradients_below_the_cut(tiny) -> None:  # type: ignore[no-untyped-def]
    path, _ = tiny
    model = stage1.load_model(path, freeze_word_embeddings=True, freeze_layers=1)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert not any(name.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for name in trainable)
    assert any(name.startswith("bert.encoder.layer.1.") for name in trainable)
    assert "classifier.weight" in trainable
    with pytest.raises(ValueError, match="has 2 layers"):
        freeze_lower(model, False, 3)


DOC = Document(
    "d",
    "他很高兴，因为考上了大学，也因为拿了奖。今天下雨。",
    "zh",
    "test",
    [
        Triplet(Span(2, 4, "高兴"), Span(7, 12, "考上了大学"), "happiness"),
        Triplet(Span(2, 4, "高兴"), Span(16, 19, "拿了奖"), "happiness"),
    ],
).validate()


def test_nearest_training_pairs_are_gold_triplets_plus_nearest_non_cause_clauses() -> None:
    settings = stage2.PairSettings(negatives="nearest", negatives_per_emotion=2)
    pairs = stage2.training_pairs(0, DOC, settings)
    labelled = {(p.emotion.text, p.cause.text): stage2.PAIR_LABELS[p.label] for p in pairs}
    # "他很高兴" contains the emotion; the two causes' clauses overlap the causes: only "今天下雨" is left.
    assert labelled == {
        ("高兴", "考上了大学"): "happiness",
        ("高兴", "拿了奖"): "happiness",
        ("高兴", "今天下雨"): "none",
    }


def test_window_pair_input_names_both_spans_and_marks_them_in_context(tiny) -> None:  # type: ignore[no-untyped-def]
    _, tokenizer = tiny
    pair = stage2.Pair(0, DOC.triplets[0].emotion, DOC.triplets[0].cause)
    window = stage2.PairSettings(max_length=64, context="window", context_chars=3, distance=False)
    encoded = stage2.encode_pairs([pair], [DOC], tokenizer, window)
    text = tokenizer.decode(encoded["input_ids"][0])
    assert text.index("高兴") < text.index("考上了大学") < text.index("<e>")
    assert "<e> 高兴 </e>" in text.replace("  ", " ") and "<c> 考上了大学 </c>" in text.replace("  ", " ")
    assert "今天" not in text  # outside the context window
    # A window longer than the budget is cut, never the span texts of the first part.
    short = stage2.encode_pairs([pair], [DOC], tokenizer, replace(window, max_length=20, context_chars=30))
    first_part = tokenizer.decode(short["input_ids"][0]).split("</s></s>")[0]
    assert len(short["input_ids"][0]) == 20 and "高兴" in first_part and "考上了大学" in first_part


def test_candidates_are_all_emotion_cause_pairs_nearest_first_with_a_counted_limit() -> None:
    emotions = [Span(2, 4, "高兴")]
    causes = [Span(20, 24, "今天下雨"), Span(7, 12, "考上了大学"), Span(2, 4, "高兴")]
    pairs, dropped = candidate_pairs(0, emotions, causes, limit=None)
    assert [p.cause.text for p in pairs] == ["考上了大学", "今天下雨"] and dropped == 0  # identical span excluded
    pairs, dropped = candidate_pairs(0, emotions, causes, limit=1)
    assert [p.cause.text for p in pairs] == ["考上了大学"] and dropped == 1


@pytest.mark.parametrize("module", [stage1, stage2], ids=["stage1", "stage2"])
def test_the_head_learns_at_its_own_rate_and_every_parameter_is_optimised_once(
    tiny, demo_docs, tmp_path: Path, module
) -> None:  # type: ignore[no-untyped-def]
    path, tokenizer = tiny
    model = module.load_model(path, freeze_word_embeddings=True)
    args = _args(tmp_path, module.BEST_METRIC, epochs=1, batch_size=4, learning_rate=1e-4)
    inputs = {"max_length": 64, "stride": 16} if module is stage1 else {"settings": stage2.PairSettings(max_length=64)}
    trainer = module.build_trainer(
        model, tokenizer, args, demo_docs[:2], demo_docs[:2], head_learning_rate=3e-3, **inputs
    )
    optimizer = trainer.create_optimizer()
    rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    seen = [id(p) for group in optimizer.param_groups for p in group["params"]]
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    assert sorted(seen) == sorted(id(p) for p in trainable.values())  # each once, frozen ones never
    head = {"classifier.weight", "classifier.bias"} | (
        {"classifier_norm.weight", "classifier_norm.bias"} if module is stage2 else set()  # the span classifier's
    )
    assert {name for name, p in trainable.items() if rate[id(p)] == 3e-3} == head
    assert {rate[id(p)] for name, p in trainable.items() if not name.startswith("classifier")} == {1e-4}


def test_a_head_rate_without_a_head_is_refused(tiny, demo_docs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, tokenizer = tiny
    args = _args(tmp_path, stage1.BEST_METRIC, epochs=1, batch_size=4, learning_rate=1e-4)
    trainer = stage1.build_trainer(
        stage1.load_model(path), tokenizer, args, demo_docs[:2], demo_docs[:2], 64, 16, head_learning_rate=1e-3
    )
    trainer.head_prefix = "no_such_head"
    with pytest.raises(ValueError, match="no_such_head"):
        trainer.create_optimizer()


def test_a_none_threshold_lets_a_hesitant_classifier_name_categories() -> None:
    labels = stage2.PAIR_LABELS
    probabilities = np.array(
        [
            [0.60, 0.05, 0.30, 0.01, 0.02, 0.01, 0.01],  # "none" leads, sadness close behind
            [0.90, 0.02, 0.02, 0.02, 0.02, 0.01, 0.01],  # clearly no relation
            [0.20, 0.70, 0.02, 0.02, 0.02, 0.02, 0.02],  # clearly the first category
        ]
    )
    assert stage2.decide(probabilities) == ["none", "none", labels[1]]
    assert stage2.decide(probabilities, 0.65) == [labels[2], "none", labels[1]]
    assert stage2.decide(probabilities, 0.1) == ["none", "none", "none"]
    gold = [2, 0, 1]
    threshold, f1 = stage2.tune_none_threshold(probabilities, gold)
    assert 0.6 < threshold <= 0.9 and f1 == pytest.approx(1.0)
    assert stage2.decide(probabilities, threshold) == [labels[g] for g in gold]
    # Nothing to find: the best is to predict nothing, at any threshold that keeps every pair "none".
    assert stage2.tune_none_threshold(probabilities[:2], [0, 0])[1] == 0.0
