"""Training-set augmentation: select sources from the training part, generate, filter, cache, sample by ratio.

``augment_training_set(train_docs, cfg, split_name)`` is the only entry point training uses. It sees the training
part and nothing else, so validation and test text cannot reach a prompt or an augmented document.

Order and determinism: eligible sources (those ``mark_document`` accepts) are shuffled with ``augment.seed`` and
the first ``max_sources`` kept. Samples are visited round by round (round r = sample indices
``r*num_samples .. r*num_samples+num_samples-1`` of every source), sources in shuffled order within a round. The
accepted pool is rebuilt from the cache in that canonical order, and the ``round(ratio x len(train))`` documents
added are its first ones: the draw depends only on the seed and the cache, and a larger ratio extends a smaller
one's set. When the pool is short, further rounds are generated, at most ``max_rounds`` in all; whatever is still
missing is reported (``augment/shortfall``) and logged as a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecct.augment.cache import CachedSample, GenerationCache, text_sha
from ecct.augment.filters import REASONS, FilterConfig, NearDuplicateIndex, Rejected, check_candidate
from ecct.augment.generation import (
    GenerationRequest,
    GenerationStats,
    Generator,
    SamplingConfig,
    build_generator,
    generator_id,
)
from ecct.augment.marking import MarkedDocument, MarkerFormat, mark_document
from ecct.augment.prompts import build_augment_messages, echo_fragments, prompt_key
from ecct.data.errors import DataError
from ecct.data.model import LANGUAGES as LANGS
from ecct.data.model import Document
from ecct.settings import load_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentSettings:
    """The ``augment`` config group, checked (``conf/augment/*.yaml`` documents each key)."""

    name: str = "none"
    ratio: float = 0.0
    seed: int = 42
    max_sources: int | None = None
    generate: bool = True  # false: only filter what the cache already holds (report a partial or interrupted job)
    num_samples: int = 1
    max_rounds: int = 3
    chunk_size: int = 64
    cache_dir: str | None = None
    prompt_language: str | None = None
    example: bool = True
    marker: MarkerFormat = field(default_factory=MarkerFormat)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    generator: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.ratio < 0:
            raise ValueError(f"augment.ratio must be >= 0, got {self.ratio}")
        if self.num_samples < 1 or self.max_rounds < 1 or self.chunk_size < 1:
            raise ValueError("augment.num_samples, augment.max_rounds and augment.chunk_size must be >= 1")
        if self.max_sources is not None and self.max_sources < 1:
            raise ValueError("augment.max_sources must be >= 1 or null (all training documents)")
        if self.prompt_language not in (None, "zh", "en"):
            raise ValueError(f"augment.prompt_language must be zh, en or null, got {self.prompt_language!r}")

    @classmethod
    def from_config(cls, cfg: Any) -> AugmentSettings:
        """The ``augment`` group checked against this schema; sampling is seeded with ``augment.seed``."""
        settings = load_settings(cls, cfg, "augment")
        return dataclasses.replace(settings, sampling=dataclasses.replace(settings.sampling, seed=settings.seed))

    @property
    def cache_root(self) -> Path:
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        from ecct.models import cache_dir

        return cache_dir() / "augment"


@dataclass
class Candidate:
    """One cached generation and the filters' verdict on it."""

    source_id: str
    sample: int
    output: str
    document: Document | None
    reason: str | None
    detail: str = ""


@dataclass
class Pool:
    accepted: list[Document]
    candidates: list[Candidate]
    rejected: Counter[str]
    stale: int  # cached outputs of a source whose marked text has changed since (not used)


class Augmenter:
    """The augmentation state of one training part: its sources, cache and (lazily built) generator."""

    def __init__(
        self,
        train_docs: Sequence[Document],
        settings: AugmentSettings,
        split_key: str,
        generator: Generator | None = None,
        generator_factory: Callable[[], Generator] | None = None,
    ):
        self.settings = settings
        self.train_size = len(train_docs)
        self.source_skips: Counter[str] = Counter()
        eligible: list[MarkedDocument] = []
        for doc in train_docs:
            try:
                eligible.append(mark_document(doc, settings.marker))
            except DataError as err:
                self.source_skips[err.reason] += 1
        self.eligible_count = len(eligible)
        random.Random(settings.seed).shuffle(eligible)
        self.sources = eligible[: settings.max_sources] if settings.max_sources else eligible
        self.rank = {m.source.id: i for i, m in enumerate(self.sources)}
        self._generator = generator
        self._factory = generator_factory or (
            lambda: build_generator(settings.generator, settings.sampling, settings.marker)
        )
        gen_id = generator.id if generator is not None else generator_id(settings.generator)
        if not gen_id:
            raise ValueError("augment.generator does not name a model (generator.model)")
        self.prompt_version = prompt_key(settings.marker, settings.example)
        self.key = {
            "split": split_key,
            "generator": gen_id,
            "prompt": self.prompt_version,
            "prompt_language": settings.prompt_language,
            "sampling": settings.sampling.as_key(),
        }
        self.cache = GenerationCache.open(settings.cache_root, split_key, gen_id, self.key)
        self.generated_this_run = 0
        self.failures: Counter[str] = Counter()
        self._messages = {m.source.id: self._prompt(m) for m in self.sources}
        self._markers = {
            m.source.id: tuple(settings.marker.render(k.role, k.number, k.text) for k in m.markers)
            for m in self.sources
        }

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = self._factory()
        return self._generator

    def _prompt(self, marked: MarkedDocument) -> list[dict[str, str]]:
        settings = self.settings
        return build_augment_messages(marked, settings.marker, settings.prompt_language, settings.example)

    def _order(self, pair: tuple[str, int]) -> tuple[int, int, int]:
        source_id, sample = pair
        return (sample // self.settings.num_samples, self.rank[source_id], sample)

    def pool(self) -> Pool:
        """Every cached generation of the selected sources through the filters, in canonical order."""
        by_id = {m.source.id: m for m in self.sources}
        index = NearDuplicateIndex(self.settings.filters.ngram)
        accepted: list[Document] = []
        candidates: list[Candidate] = []
        rejected: Counter[str] = Counter({reason: 0 for reason in REASONS})
        stale = 0
        fragments = {
            (prompt, text): echo_fragments(prompt, self.settings.marker, text) for prompt in LANGS for text in LANGS
        }
        pairs = sorted((p for p in self.cache.samples if p[0] in by_id), key=self._order)
        for pair in pairs:
            record = self.cache.samples[pair]
            marked = by_id[record.source_id]
            if record.source_sha != text_sha(marked.text):
                stale += 1
                continue
            language = self.settings.prompt_language or marked.source.language
            meta = {
                "augmented_from": marked.source.id,
                "sample": record.sample,
                "generator": self.key["generator"],
                "prompt_version": self.prompt_version,
            }
            try:
                doc = check_candidate(
                    marked,
                    record.output,
                    fmt=self.settings.marker,
                    cfg=self.settings.filters,
                    echo_fragments=fragments[language, marked.source.language],
                    doc_id=f"{marked.source.id}~aug{record.sample}",
                    meta=meta,
                    accepted=index,
                )
            except Rejected as rejection:
                rejected[rejection.reason] += 1
                candidates.append(
                    Candidate(record.source_id, record.sample, record.output, None, rejection.reason, rejection.detail)
                )
                continue
            accepted.append(doc)
            candidates.append(Candidate(record.source_id, record.sample, record.output, doc, None))
        return Pool(accepted=accepted, candidates=candidates, rejected=rejected, stale=stale)

    def _generate(self, requests: list[GenerationRequest], progress: bool) -> None:
        def store(request: GenerationRequest, text: str) -> None:
            sha = text_sha(request.document_text)
            self.cache.append(CachedSample(request.source_id, request.sample, sha, text))
            self.generated_this_run += 1

        stats: GenerationStats = self.generator.generate(requests, store, progress=progress)
        self.failures.update(stats.failed)

    def fill(self, target: int | None = None, rounds: int | None = None, progress: bool = True) -> Pool:
        """Generate missing samples until the pool holds ``target`` documents (None: every sample of ``rounds``).

        Generation goes chunk by chunk (``chunk_size`` sources) in canonical order, checking the pool in between.
        """
        rounds = self.settings.max_rounds if rounds is None else min(rounds, self.settings.max_rounds)
        pool = self.pool()
        if not self.settings.generate:
            self.cache.close()
            return pool
        n = self.settings.num_samples
        try:
            for round_index in range(rounds):
                for start in range(0, len(self.sources), self.settings.chunk_size):
                    if target is not None and len(pool.accepted) >= target:
                        return pool
                    chunk = self.sources[start : start + self.settings.chunk_size]
                    requests = [
                        GenerationRequest(
                            m.source.id, sample, self._messages[m.source.id], m.text, self._markers[m.source.id]
                        )
                        for m in chunk
                        for sample in range(round_index * n, round_index * n + n)
                        if (m.source.id, sample) not in self.cache
                    ]
                    if requests:
                        self._generate(requests, progress)
                        pool = self.pool()
        finally:
            self.cache.close()
        return pool

    def report(self, pool: Pool, requested: int, added: int) -> dict[str, Any]:
        generated = len(pool.candidates)
        report: dict[str, Any] = {
            "augment/name": self.settings.name,
            "augment/ratio": self.settings.ratio,
            "augment/generator": self.key["generator"],
            "augment/prompt_version": self.prompt_version,
            "augment/train_documents": self.train_size,
            "augment/requested": requested,
            "augment/added": added,
            "augment/shortfall": requested - added,
            "augment/sources_eligible": self.eligible_count,
            "augment/sources_used": len(self.sources),
            "augment/sources_skipped": sum(self.source_skips.values()),
            **{f"augment/sources_skipped/{reason}": n for reason, n in sorted(self.source_skips.items())},
            "augment/generated": generated,
            "augment/generated_this_run": self.generated_this_run,
            "augment/generation_failures": sum(self.failures.values()),
            **{f"augment/generation_failures/{reason}": n for reason, n in sorted(self.failures.items())},
            "augment/accepted": len(pool.accepted),
            "augment/yield": len(pool.accepted) / generated if generated else 0.0,
            **{f"augment/rejected/{reason}": pool.rejected[reason] for reason in REASONS},
            "augment/cache_stale": pool.stale,
            "augment/cache_bad_lines": self.cache.bad_lines,
            "augment/cache_dir": str(self.cache.folder),
        }
        return report


def format_report(report: Mapping[str, Any]) -> str:
    """The yield report as a few readable lines (CLI and logs)."""
    lines = [
        f"augmentation {report['augment/name']} with {report['augment/generator']} "
        f"(prompt {report['augment/prompt_version']})",
        f"  sources: {report['augment/sources_used']} used of {report['augment/sources_eligible']} eligible "
        f"({report['augment/sources_skipped']} training documents skipped as sources)",
    ]
    lines += [
        f"    skipped: {n:>5}  {key.rsplit('/', 1)[1]}"
        for key, n in report.items()
        if key.startswith("augment/sources_skipped/")
    ]
    lines.append(
        f"  generated {report['augment/generated']} ({report['augment/generated_this_run']} in this run, "
        f"{report['augment/generation_failures']} failed requests), accepted {report['augment/accepted']} "
        f"(yield {report['augment/yield']:.1%})"
    )
    lines += [
        f"    rejected: {n:>5}  {key.rsplit('/', 1)[1]}"
        for key, n in report.items()
        if key.startswith("augment/rejected/") and n
    ]
    lines.append(
        f"  ratio {report['augment/ratio']}: requested {report['augment/requested']}, added {report['augment/added']}"
        + (f" (SHORT by {report['augment/shortfall']})" if report["augment/shortfall"] else "")
    )
    if report["augment/cache_bad_lines"] or report["augment/cache_stale"]:
        lines.append(
            f"  cache: {report['augment/cache_bad_lines']} unreadable line(s), {report['augment/cache_stale']} stale"
        )
    lines.append(f"  cache: {report['augment/cache_dir']}")
    return "\n".join(lines)


def augment_training_set(
    train_docs: Sequence[Document],
    cfg: Any,
    split_name: str,
    generator: Generator | None = None,
    progress: bool = True,
) -> tuple[list[Document], dict[str, Any]]:
    """``train_docs`` plus ``round(augment.ratio x len(train_docs))`` accepted synthetic documents, and a report.

    Pass the training part only (never validation or test documents). ``cfg`` is the full run config (it reads
    ``cfg.augment`` and ``cfg.data.name``); ``generator`` overrides the configured one (tests).
    """
    settings = AugmentSettings.from_config(cfg.augment)
    requested = round(settings.ratio * len(train_docs))
    if requested == 0:
        return list(train_docs), {
            "augment/name": settings.name,
            "augment/ratio": settings.ratio,
            "augment/requested": 0,
            "augment/added": 0,
        }
    split_key = f"{cfg.data.name}-{split_name}"
    augmenter = Augmenter(train_docs, settings, split_key, generator=generator)
    pool = augmenter.fill(target=requested, progress=progress)
    added = pool.accepted[:requested]
    report = augmenter.report(pool, requested, len(added))
    log.info("%s", format_report(report))
    if len(added) < requested:
        log.warning(
            "augmentation is short: %d of %d requested synthetic documents (ratio %s x %d training documents) are "
            "available after %d round(s) of %d sample(s) per source over %d sources; raise augment.max_rounds, "
            "augment.max_sources or augment.num_samples, or use a stronger generator",
            len(added),
            requested,
            settings.ratio,
            len(train_docs),
            settings.max_rounds,
            settings.num_samples,
            len(augmenter.sources),
        )
    return [*train_docs, *added], report
