"""A few test documents with the triplets the model extracted next to gold: what a run's F1 is made of.

Printed at the end of a training run (``eval.show_examples``) so a newcomer sees what the tool does, and used by
the README's examples. Records are ``predictions.jsonl`` rows (``ecct.output.records.prediction_record``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MAX_TEXT_CHARS = 160


def _triplet_text(triplet: Mapping[str, Any]) -> str:
    return f"({triplet.get('emotion', '')}, {triplet.get('cause', '')}, {triplet.get('category', '')})"


def _key(triplet: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(triplet.get("emotion", "")), str(triplet.get("cause", "")), str(triplet.get("category", "")).lower())


def _excerpt(text: str, around: str = "", limit: int = MAX_TEXT_CHARS) -> str:
    """At most ``limit`` characters of ``text``, placed so that ``around`` (the first gold emotion) is in view."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    anchor = flat.find(around) if around else -1
    start = 0 if anchor < 0 else min(max(0, anchor - (2 * limit) // 3), len(flat) - limit)
    piece = flat[start : start + limit]
    return ("…" if start > 0 else "") + piece + ("…" if start + limit < len(flat) else "")


def choose_examples(records: Sequence[Mapping[str, Any]], n: int) -> list[Mapping[str, Any]]:
    """Up to ``n`` records with gold triplets, in file order, alternating exact hits and misses when both exist.

    Deterministic (no sampling), so two runs on the same test part show the same documents' kinds.
    """
    labelled = [r for r in records if r.get("gold") and "triplets" in r]
    hits = [r for r in labelled if {_key(t) for t in r["triplets"]} == {_key(t) for t in r["gold"]}]
    misses = [r for r in labelled if r not in hits]
    chosen: list[Mapping[str, Any]] = []
    while len(chosen) < n and (hits or misses):
        for pool in (hits, misses):
            if pool and len(chosen) < n:
                chosen.append(pool.pop(0))
    return chosen


def format_examples(records: Sequence[Mapping[str, Any]], n: int = 3) -> str:
    """Plain-text block: per document its id, an excerpt, each predicted triplet marked ``+`` (in gold) or ``-``,
    and gold marked ``+`` (found) or ``?`` (missed)."""
    chosen = choose_examples(records, n)
    if not chosen:
        return "no labelled test documents to show"
    lines = [f"{len(chosen)} test document(s), predicted vs gold (+ exact match, - wrong, ? missed):"]
    for record in chosen:
        predicted = {_key(t) for t in record["triplets"]}
        gold = {_key(t) for t in record["gold"]}
        emotion = str(record["gold"][0].get("emotion", ""))
        lines.append(f"[{record.get('id')}] {_excerpt(str(record.get('text', '')), emotion)}")
        lines.extend(f"  predicted {'+' if _key(t) in gold else '-'} {_triplet_text(t)}" for t in record["triplets"])
        if not record["triplets"]:
            lines.append("  predicted   (nothing)")
        lines.extend(f"  gold      {'+' if _key(t) in predicted else '?'} {_triplet_text(t)}" for t in record["gold"])
    return "\n".join(lines)
