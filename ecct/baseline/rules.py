"""The rule-based floor (``python -m ecct.baseline method=rules``): an emotion lexicon and clause-position rules.

The classic baseline of the emotion-cause literature (Lee et al. 2010; Gui et al. 2016's RB), learnt from the
training part alone, with every free choice made on the dev part, so it is the floor a learnt method has to beat:

1. **Lexicon.** Every training emotion span text is a keyword with the category it has most often. A keyword is
   kept when it was annotated at least ``lexicon.min_count`` times and its training precision (annotated
   occurrences / occurrences in the training texts) is at least ``lexicon.min_precision``.
2. **Emotions.** A document's keyword occurrences are taken longest first (then most precise, then leftmost),
   never two that overlap. ``emotion.pick``: ``longest`` or ``precision`` keeps the first one by that key
   (most documents have one emotion), ``all`` keeps them all.
3. **Causes.** The text is cut into clauses at ``，。！？；：`` (English: ``, . ! ? ;`` before a space or the end);
   the cause of an emotion is a whole clause at a relative position (cause clause - emotion clause) learnt from
   the training part: its ``cause.positions`` most frequent positions. ``cause.fallback``: where a position
   falls outside the document, take the next most frequent one that does not. The span is the clause's text
   without the delimiter and surrounding whitespace, verbatim; ``cause.trim_quotes`` also drops an opening quote
   whose closing one is outside the clause (and the reverse).

A setting given as a list in ``conf/baseline/method/rules.yaml`` is chosen on the dev part (the best
``method.tune_metric``, ties to the earliest combination); a single value is fixed. The run writes what every
baseline run writes (``metrics.json`` with ``test/`` keys, ``predictions.jsonl``, ...) plus ``rules.json``: the
lexicon, the position distribution and every dev score of the grid.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from ecct.data.corpus import load_corpus
from ecct.data.model import Document, Span
from ecct.metrics import compute_metrics
from ecct.output.formats import serialize
from ecct.output.parsing import ParseResult, PredictedTriplet
from ecct.output.records import prediction_record
from ecct.runs.job import peak_memory_mb, publish_results
from ecct.runs.parts import run_parts

log = logging.getLogger(__name__)

# A clause ends at one of these (the delimiter belongs to no clause). English: only before whitespace or the end,
# so 3.5 and U.S. stay whole.
CLAUSE_DELIMITERS = {
    "zh": re.compile(r"[，。！？；：,!?;]"),
    "en": re.compile(r"[,.!?;](?=\s|$)"),
}
QUOTES = {"“": "”", "‘": "’", "「": "」", "『": "』"}  # opening -> closing
CLOSING = {close: open_ for open_, close in QUOTES.items()}
PICKS = ("longest", "precision", "all")
TUNABLE = ("min_count", "min_precision", "pick", "positions", "fallback", "trim_quotes")


# ---- clauses ------------------------------------------------------------------------------------------------


def _trim_quotes(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop a stray quote at either end of ``text[start:end]``: a closing quote first or an opening one last, or
    one whose partner is not in the clause (an ASCII double quote: when the clause holds an odd number)."""

    def stray(char: str, rest: str, at_start: bool) -> bool:
        if char == '"':
            return (rest.count('"') + 1) % 2 == 1
        if char in QUOTES:  # an opening quote
            return not at_start or QUOTES[char] not in rest
        if char in CLOSING:
            return at_start or CLOSING[char] not in rest
        return False

    if end - start > 1 and stray(text[start], text[start + 1 : end], True):
        start += 1
    if end - start > 1 and stray(text[end - 1], text[start : end - 1], False):
        end -= 1
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_clauses(text: str, language: str, trim_quotes: bool = False) -> list[Span]:
    """The document's clauses, in order: text between delimiters, stripped of whitespace, empty ones dropped."""
    try:
        delimiter = CLAUSE_DELIMITERS[language]
    except KeyError:
        raise ValueError(f"unknown language {language!r}; expected one of {sorted(CLAUSE_DELIMITERS)}") from None
    bounds, start = [], 0
    for match in delimiter.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    clauses = []
    for a, b in bounds:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if trim_quotes:
            a, b = _trim_quotes(text, a, b)
        if a < b:
            clauses.append(Span(a, b, text[a:b]))
    return clauses


def clause_index(clauses: Sequence[Span], position: int) -> int:
    """The clause holding character ``position``; one between two clauses (a delimiter) counts for the next."""
    for i, clause in enumerate(clauses):
        if position < clause.end:
            return i
    return len(clauses) - 1


def cause_positions(documents: Sequence[Document]) -> Counter[int]:
    """Relative clause position of each gold cause (clause of its start - clause of its emotion's start)."""
    positions: Counter[int] = Counter()
    for doc in documents:
        clauses = split_clauses(doc.text, doc.language)
        if not clauses:
            continue
        for triplet in doc.triplets:
            positions[clause_index(clauses, triplet.cause.start) - clause_index(clauses, triplet.emotion.start)] += 1
    return positions


# ---- lexicon --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keyword:
    text: str
    category: str
    count: int  # distinct annotated occurrences in the training part
    occurrences: int  # occurrences in the training texts, annotated or not
    categories: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def precision(self) -> float:
        return self.count / self.occurrences if self.occurrences else 0.0


def _occurrences(text: str, needle: str) -> list[int]:
    starts, pos = [], text.find(needle)
    while pos != -1:
        starts.append(pos)
        pos = text.find(needle, pos + 1)
    return starts


def learn_lexicon(documents: Sequence[Document]) -> dict[str, Keyword]:
    """Every emotion span text of ``documents`` with its most frequent category and its precision there."""
    categories: dict[str, Counter[str]] = defaultdict(Counter)
    annotated: Counter[str] = Counter()
    for doc in documents:
        for emotion, category in doc.emotions:
            categories[emotion.text][category] += 1
        for emotion in {e for e, _ in doc.emotions}:
            annotated[emotion.text] += 1
    occurrences: Counter[str] = Counter()
    for doc in documents:
        for text in categories:
            occurrences[text] += len(_occurrences(doc.text, text))
    lexicon = {}
    for text, counts in categories.items():
        category = min(counts, key=lambda c: (-counts[c], c))  # most frequent, ties alphabetical
        lexicon[text] = Keyword(text, category, annotated[text], occurrences[text], dict(counts))
    return lexicon


# ---- prediction ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    min_count: int = 1
    min_precision: float = 0.0
    pick: str = "longest"
    positions: int = 1
    fallback: bool = True
    trim_quotes: bool = False

    def __post_init__(self) -> None:
        if self.pick not in PICKS:
            raise ValueError(f"emotion.pick={self.pick!r}: expected one of {PICKS}")
        if self.positions < 1:
            raise ValueError(f"cause.positions={self.positions}: expected at least 1")


def keyword_hits(text: str, lexicon: Mapping[str, Keyword]) -> list[tuple[Span, Keyword]]:
    """Every occurrence in ``text`` of every keyword, longest first, then most precise, then leftmost."""
    hits = [
        (Span(start, start + len(word), word), keyword)
        for word, keyword in lexicon.items()
        for start in _occurrences(text, word)
    ]
    hits.sort(key=lambda item: (-len(item[0].text), -item[1].precision, item[0].start))
    return hits


def find_emotions(hits: Sequence[tuple[Span, Keyword]], settings: Settings) -> list[tuple[Span, Keyword]]:
    """The kept keywords' non-overlapping occurrences (``hits`` order); one by ``settings.pick`` or all, in text
    order."""
    chosen: list[tuple[Span, Keyword]] = []
    for span, keyword in hits:
        if keyword.count < settings.min_count or keyword.precision < settings.min_precision:
            continue
        if all(span.end <= other.start or other.end <= span.start for other, _ in chosen):
            chosen.append((span, keyword))
    if settings.pick == "precision":
        chosen.sort(key=lambda item: (-item[1].precision, -len(item[0].text), item[0].start))
    if settings.pick != "all":
        chosen = chosen[:1]
    return sorted(chosen, key=lambda item: item[0].start)


def cause_clauses(
    clauses: Sequence[Span], emotion: Span, ranked_positions: Sequence[int], settings: Settings
) -> list[Span]:
    """The clauses at the ``settings.positions`` most frequent positions (next ones as fallback), never the
    emotion's own clause when that would make the cause the emotion itself."""
    here = clause_index(clauses, emotion.start)
    causes: list[Span] = []
    candidates = ranked_positions if settings.fallback else ranked_positions[: settings.positions]
    for offset in candidates:
        if len(causes) == settings.positions:
            break
        index = here + offset
        if 0 <= index < len(clauses) and (clauses[index].start, clauses[index].end) != (emotion.start, emotion.end):
            causes.append(clauses[index])
    return causes


def predict(
    doc: Document,
    lexicon: Mapping[str, Keyword],
    ranked_positions: Sequence[int],
    settings: Settings,
    hits: Sequence[tuple[Span, Keyword]] | None = None,
) -> ParseResult:
    """The rules' triplets for one document (``hits``: its ``keyword_hits``, computed here when not given)."""
    hits = keyword_hits(doc.text, lexicon) if hits is None else hits
    clauses = split_clauses(doc.text, doc.language, settings.trim_quotes)
    triplets = []
    seen: set[tuple[str, str, str]] = set()
    for emotion, keyword in find_emotions(hits, settings):
        for cause in cause_clauses(clauses, emotion, ranked_positions, settings):
            triplet = PredictedTriplet(emotion.text, cause.text, keyword.category, emotion, cause)
            if triplet.as_text() not in seen:  # one triplet per distinct text, as the other pipelines
                seen.add(triplet.as_text())
                triplets.append(triplet)
    return ParseResult(triplets)


def predict_all(
    documents: Sequence[Document],
    lexicon: Mapping[str, Keyword],
    ranked: Sequence[int],
    settings: Settings,
    hits: Mapping[str, Sequence[tuple[Span, Keyword]]] | None = None,
) -> dict[str, ParseResult]:
    return {doc.id: predict(doc, lexicon, ranked, settings, (hits or {}).get(doc.id)) for doc in documents}


# ---- tuning and the run -----------------------------------------------------------------------------------------


def setting_grid(method: DictConfig) -> tuple[dict[str, list[Any]], list[Settings]]:
    """The grid of ``method``'s settings: a list is a choice for the dev part, a single value is fixed."""
    given = {
        "min_count": method.lexicon.min_count,
        "min_precision": method.lexicon.min_precision,
        "pick": method.emotion.pick,
        "positions": method.cause.positions,
        "fallback": method.cause.fallback,
        "trim_quotes": method.cause.trim_quotes,
    }
    axes = {
        key: list(OmegaConf.to_container(value)) if isinstance(value, ListConfig) else [value]
        for key, value in given.items()
    }
    for key, values in axes.items():
        if not values:
            raise ValueError(f"rules setting {key}: an empty list leaves nothing to choose from")
    types = {"min_count": int, "min_precision": float, "pick": str, "positions": int, "fallback": bool}
    types["trim_quotes"] = bool
    grid = [
        Settings(**{key: types[key](value) for key, value in zip(axes, combo, strict=True)})
        for combo in itertools.product(*axes.values())
    ]
    return axes, grid


def tune(
    dev_docs: Sequence[Document],
    lexicon: Mapping[str, Keyword],
    ranked: Sequence[int],
    grid: Sequence[Settings],
    metric: str,
) -> tuple[Settings, float, list[dict[str, Any]]]:
    """The grid's best setting by ``metric`` on the dev part (first of the ties), its score and every score."""
    hits = {doc.id: keyword_hits(doc.text, lexicon) for doc in dev_docs}
    scores = []
    for settings in grid:
        dev = compute_metrics(dev_docs, predict_all(dev_docs, lexicon, ranked, settings, hits))
        if metric not in dev:
            raise ValueError(f"method.tune_metric={metric!r} is not a metric; e.g. span/triplet/f1")
        scores.append({**settings.__dict__, metric: dev[metric]})
    best = max(range(len(grid)), key=lambda i: (scores[i][metric], -i))
    return grid[best], float(scores[best][metric]), scores


def run(cfg: DictConfig, run_dir: Path, wandb_run: Any | None) -> dict[str, Any]:
    """Learn the rules on train, choose their settings on dev, test; returns the metrics also in metrics.json."""
    started = time.perf_counter()
    corpus = load_corpus(cfg.data, cfg.get("data_dir"))
    train_docs, dev_docs, test_docs = run_parts(corpus, cfg)
    method = cfg.method
    lexicon = learn_lexicon(train_docs)
    positions = cause_positions(train_docs)
    ranked = [p for p, _ in sorted(positions.items(), key=lambda item: (-item[1], abs(item[0]), item[0]))]
    total = sum(positions.values())
    shares = {p: positions[p] / total for p in ranked}
    log.info(
        "rules: %d keywords from %d training documents; cause clause positions %s",
        len(lexicon),
        len(train_docs),
        ", ".join(f"{p:+d}: {share:.1%}" for p, share in list(shares.items())[:5]),
    )
    axes, grid = setting_grid(method)
    metric = str(method.get("tune_metric", "span/triplet/f1"))
    best, dev_score, scores = tune(dev_docs, lexicon, ranked, grid, metric)
    seconds = time.perf_counter() - started
    log.info(
        "rules: chose %s on %d dev documents (%s %.4f of %d settings)",
        best,
        len(dev_docs),
        metric,
        dev_score,
        len(grid),
    )

    results = predict_all(test_docs, lexicon, ranked, best)
    records = [prediction_record(doc, serialize(results[doc.id].text_triplets), results[doc.id]) for doc in test_docs]
    test_scores = compute_metrics(test_docs, results)
    kept = [k for k in lexicon.values() if k.count >= best.min_count and k.precision >= best.min_precision]
    metrics: dict[str, Any] = {
        **{f"test/{k}": v for k, v in test_scores.items()},
        "method": "rules",
        **{f"rules/{key}": value for key, value in best.__dict__.items()},
        f"rules/dev/{metric}": dev_score,
        "rules/grid_size": len(grid),
        "rules/keywords": len(kept),
        "rules/keywords_learnt": len(lexicon),
        **{f"rules/cause_position/{p:+d}": share for p, share in shares.items()},
        "rules/top_cause_position": ranked[0] if ranked else None,
        "train/seconds": seconds,
        "peak_memory_mb": peak_memory_mb(),
        "data/split": corpus.split.name,
        "data/n_train": len(train_docs),
        "data/n_dev": len(dev_docs),
        "data/n_test": len(test_docs),
        "data/skipped_records": corpus.skipped.total,
    }
    rules = {
        "chosen": best.__dict__,
        "tuned_on": f"{len(dev_docs)} dev documents, {metric}",
        "grid": axes,
        "dev_scores": scores,
        "cause_positions": {f"{p:+d}": positions[p] for p in ranked},
        "lexicon": [
            {**k.__dict__, "precision": round(k.precision, 4)}
            for k in sorted(lexicon.values(), key=lambda k: (-k.count, k.text))
        ],
    }
    (run_dir / "rules.json").write_text(json.dumps(rules, indent=1, ensure_ascii=False), encoding="utf-8")
    publish_results(run_dir, metrics, records, wandb_run)
    log.info(
        "test triplet F1 %.4f (word-level %.4f) on %d documents; outputs in %s",
        test_scores["span/triplet/f1"],
        test_scores["word/triplet/f1"],
        len(test_docs),
        run_dir,
    )
    return metrics
