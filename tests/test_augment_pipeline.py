"""The augmentation pipeline with a rule-based rewriter standing in for an LLM: ratio, determinism, cache reuse,
resume after an interruption, the attempt cap and shortfall report, and no validation/test leakage."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.augment.generation import GenerationRequest, GenerationStats, derived_seed
from ecct.augment.marking import DEFAULT_MARKERS
from ecct.augment.pipeline import Augmenter, AugmentSettings, augment_training_set
from ecct.data.corpus import load_corpus
from ecct.data.model import Document
from ecct.data.paths import REPO_ROOT

ZH_FILLER = "据当地媒体报道这件事发生在上周末一个安静的小镇上许多居民闻讯赶来围观现场议论纷纷有人拿出手机拍下了全过程"
EN_FILLER = "according to a local paper the whole thing happened last weekend in a quiet seaside town where neighbours "


class Rewriter:
    """Keeps every marker and replaces the text between them with filler of the same length and language."""

    id = "rule-rewriter"

    def __init__(self, fail_after: int | None = None, echo_every: int | None = None):
        self.fail_after = fail_after
        self.echo_every = echo_every
        self.prompts: list[str] = []
        self.calls = 0

    def rewrite(self, request: GenerationRequest) -> str:
        marked = request.messages[-1]["content"].split("\n", 1)[1]
        if self.echo_every and derived_seed(request.source_id) % self.echo_every == 0:
            return marked  # an echo: rejected by the filters
        filler = ZH_FILLER if any("\u4e00" <= c <= "\u9fff" for c in marked) else EN_FILLER
        offset = derived_seed(request.source_id, request.sample) % len(filler)
        pieces, position = [], 0
        for match in DEFAULT_MARKERS.pattern.finditer(marked):
            gap = match.start() - position
            pieces += [(filler * 4)[offset : offset + gap], match.group(0)]
            offset = (offset + gap) % len(filler)
            position = match.end()
        pieces.append((filler * 4)[offset : offset + len(marked) - position])
        return "".join(pieces)

    def generate(self, requests: Sequence[GenerationRequest], on_result, progress: bool = True) -> GenerationStats:
        stats = GenerationStats(requested=len(requests))
        for request in requests:
            if self.fail_after is not None and self.calls >= self.fail_after:
                raise RuntimeError("generator died")
            self.calls += 1
            self.prompts.append("\n".join(m["content"] for m in request.messages))
            on_result(request, self.rewrite(request))
            stats.completed += 1
        return stats


def demo_corpus():
    return load_corpus(OmegaConf.load(REPO_ROOT / "conf" / "data" / "demo.yaml"))


def run_cfg(cache: Path, **augment):
    base = {"name": "test", "ratio": 0.5, "seed": 7, "cache_dir": str(cache), "chunk_size": 4, "max_rounds": 2}
    return OmegaConf.create({"data": {"name": "demo"}, "augment": {**base, **augment}})


def ids(docs: Sequence[Document]) -> list[str]:
    return [d.id for d in docs]


def test_ratio_zero_returns_the_training_part_without_generating(tmp_path: Path) -> None:
    train = demo_corpus().part("train")
    generator = Rewriter()
    docs, report = augment_training_set(train, run_cfg(tmp_path, ratio=0.0), "s", generator=generator)
    assert ids(docs) == ids(train) and generator.calls == 0
    assert report["augment/requested"] == 0 and report["augment/added"] == 0


def test_ratio_adds_round_ratio_times_train_accepted_documents(tmp_path: Path) -> None:
    corpus = demo_corpus()
    train = corpus.part("train")
    docs, report = augment_training_set(train, run_cfg(tmp_path), corpus.split.name, generator=Rewriter())
    added = docs[len(train) :]
    assert ids(docs[: len(train)]) == ids(train)
    assert len(added) == round(0.5 * len(train)) == report["augment/added"] == report["augment/requested"]
    train_ids = set(ids(train))
    for doc in added:
        doc.validate()
        assert doc.meta["augmented_from"] in train_ids and doc.id.startswith(doc.meta["augmented_from"] + "~aug")
    assert report["augment/generated"] == report["augment/accepted"] + sum(
        v for k, v in report.items() if k.startswith("augment/rejected/")
    )
    assert report["augment/sources_skipped/no triplets"] == sum(1 for d in train if not d.triplets)
    assert report["augment/shortfall"] == 0


def test_sampling_is_deterministic_nested_across_ratios_and_reuses_the_cache(tmp_path: Path) -> None:
    train = demo_corpus().part("train")
    first = augment_training_set(train, run_cfg(tmp_path / "a"), "s", generator=Rewriter())[0]
    again = augment_training_set(train, run_cfg(tmp_path / "b"), "s", generator=Rewriter())[0]
    assert ids(first) == ids(again)
    other_seed = augment_training_set(train, run_cfg(tmp_path / "c", seed=8), "s", generator=Rewriter())[0]
    assert ids(other_seed) != ids(first)  # another seed draws other sources

    reuse = Rewriter()
    quarter, report = augment_training_set(train, run_cfg(tmp_path / "a", ratio=0.25), "s", generator=reuse)
    assert reuse.calls == 0 and report["augment/generated_this_run"] == 0  # served from the cache
    n = len(train)
    assert ids(quarter[n:]) == ids(first[n:])[: round(0.25 * n)]


def test_a_short_pool_is_reported_and_generation_stops_at_the_attempt_cap(tmp_path: Path, caplog) -> None:
    train = demo_corpus().part("train")
    generator = Rewriter(echo_every=2)  # about half the sources only ever echo
    with caplog.at_level(logging.WARNING):
        docs, report = augment_training_set(train, run_cfg(tmp_path, ratio=2.0, max_rounds=3), "s", generator=generator)
    eligible = report["augment/sources_eligible"]
    assert generator.calls == eligible * 3  # every source, every round: the cap, not more
    assert report["augment/generated"] == eligible * 3
    assert 0 < report["augment/added"] < report["augment/requested"] == 2 * len(train)
    assert report["augment/shortfall"] == report["augment/requested"] - report["augment/added"]
    assert report["augment/rejected/echo of source"] > 0
    assert "augmentation is short" in caplog.text
    assert len(docs) == len(train) + report["augment/added"]


def test_no_validation_or_test_text_reaches_prompts_or_augmented_data(tmp_path: Path) -> None:
    corpus = demo_corpus()
    train, held_out = corpus.part("train"), corpus.part("valid") + corpus.part("test")
    assert held_out
    settings = AugmentSettings.from_config(run_cfg(tmp_path, ratio=1.0).augment)
    # A record for a held-out document in the same cache (e.g. left by a buggy older version) must stay unused.
    poisoned = Augmenter(train, settings, f"demo-{corpus.split.name}", generator=Rewriter())
    from ecct.augment.cache import CachedSample, text_sha

    victim = next(d for d in held_out if d.triplets)
    poisoned.cache.append(CachedSample(victim.id, 0, text_sha(victim.text), victim.text))
    poisoned.cache.close()

    generator = Rewriter()
    docs, _ = augment_training_set(train, run_cfg(tmp_path, ratio=1.0), corpus.split.name, generator=generator)
    augmented = docs[len(train) :]
    assert augmented and generator.prompts
    train_ids = set(ids(train))
    assert all(d.meta["augmented_from"] in train_ids for d in augmented)
    for doc in held_out:
        assert not any(doc.text in prompt for prompt in generator.prompts), doc.id
        assert not any(doc.text in d.text for d in augmented), doc.id
        for t in doc.triplets:  # causes are long, document-specific phrases
            if not any(t.cause.text in d.text for d in train):
                assert not any(t.cause.text in d.text for d in augmented), (doc.id, t.cause.text)


def test_an_interrupted_run_resumes_without_losing_or_duplicating_samples(tmp_path: Path) -> None:
    train = demo_corpus().part("train")
    cfg = run_cfg(tmp_path, ratio=5.0, num_samples=2, max_rounds=1)  # asks for more than exists: generate all
    with pytest.raises(RuntimeError, match="generator died"):
        augment_training_set(train, cfg, "s", generator=Rewriter(fail_after=9))
    settings = AugmentSettings.from_config(cfg.augment)
    cache_file = Augmenter(train, settings, "demo-s", generator=Rewriter()).cache.path
    assert len(cache_file.read_text(encoding="utf-8").splitlines()) == 9  # written as generated

    with cache_file.open("a", encoding="utf-8") as handle:  # a process killed mid-write leaves half a line
        handle.write('{"source_id": "zh-01", "sample": 1, "sou')
    resumed = Rewriter()
    docs, report = augment_training_set(train, cfg, "s", generator=resumed)
    eligible = report["augment/sources_eligible"]
    assert resumed.calls == eligible * 2 - 9
    assert report["augment/cache_bad_lines"] == 1
    records = [json.loads(line) for line in cache_file.read_text(encoding="utf-8").splitlines()[:9]]
    records += [json.loads(line) for line in cache_file.read_text(encoding="utf-8").splitlines()[10:]]
    pairs = [(r["source_id"], r["sample"]) for r in records]
    assert len(pairs) == len(set(pairs)) == eligible * 2 == report["augment/generated"]

    uninterrupted, _ = augment_training_set(
        train, run_cfg(tmp_path / "fresh", ratio=5.0, num_samples=2, max_rounds=1), "s", generator=Rewriter()
    )
    assert ids(docs) == ids(uninterrupted)  # a deterministic rewriter gives the same pool either way


def test_the_cache_key_separates_splits_generators_and_sampling(tmp_path: Path) -> None:
    train = demo_corpus().part("train")

    def folder(split: str = "s", **augment) -> Path:
        settings = AugmentSettings.from_config(run_cfg(tmp_path, **augment).augment)
        return Augmenter(train, settings, split, generator=Rewriter()).cache.folder

    base = folder()
    assert folder() == base
    assert folder(split="other") != base
    assert folder(sampling={"temperature": 0.5}) != base
    assert folder(seed=1) != base
    assert folder(marker={"emotion_label": "Emo"}) != base
    assert folder(max_sources=3) == base and folder(ratio=1.0) == base  # selection and ratio share samples
    key = json.loads((base / "key.json").read_text())
    assert key["split"] == "s" and key["generator"] == "rule-rewriter" and key["prompt"].startswith("aug-v1-")


def test_unknown_or_invalid_settings_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        AugmentSettings.from_config({"name": "x", "ratoi": 1})
    with pytest.raises(ValueError, match="ratio"):
        AugmentSettings.from_config({"ratio": -1})
    assert AugmentSettings.from_config(OmegaConf.load(REPO_ROOT / "conf" / "augment" / "none.yaml")).ratio == 0.0


def test_generate_false_only_filters_what_the_cache_holds(tmp_path: Path) -> None:
    train = demo_corpus().part("train")
    full, _ = augment_training_set(train, run_cfg(tmp_path / "a"), "s", generator=Rewriter())
    never = Rewriter(fail_after=0)  # raises on its first request
    cached, report = augment_training_set(train, run_cfg(tmp_path / "a", generate=False), "s", generator=never)
    assert ids(cached) == ids(full) and never.calls == 0 and report["augment/generated_this_run"] == 0
    empty, report = augment_training_set(train, run_cfg(tmp_path / "b", generate=False), "s", generator=never)
    assert ids(empty) == ids(train) and report["augment/generated"] == 0
    assert report["augment/shortfall"] == report["augment/requested"] == round(0.5 * len(train))
