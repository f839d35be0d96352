"""The completion format the model learns to write (and ``ecct.output.parsing`` reads back).

Two formats share one contract: triplets in text order, categories written with a
capital letter (``Fear``), spans copied verbatim.

- ``lines`` (default): one ``(emotion, cause, Category)`` per line; ``None`` alone when there is no triplet.
- ``json``: a JSON list of ``{"emotion", "cause", "category"}`` objects; ``[]`` when there is none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ecct.data.model import CATEGORIES, Triplet

FORMATS: tuple[str, ...] = ("lines", "json")
EMPTY_MARKER = "None"
CATEGORY_DISPLAY: dict[str, str] = {c: c.capitalize() for c in CATEGORIES}

TextTriplet = tuple[str, str, str]
"""(emotion text, cause text, category) — what the model writes, without offsets."""


def as_text_triplets(triplets: Iterable[Triplet]) -> list[TextTriplet]:
    """Gold triplets in text order, reduced to their strings."""
    ordered = sorted(triplets, key=lambda t: t.sort_key)
    return [(t.emotion.text, t.cause.text, t.category) for t in ordered]


def serialize(triplets: Sequence[TextTriplet] | Iterable[Triplet], fmt: str = "lines") -> str:
    """Triplets -> completion text in ``fmt``. Accepts ``Triplet`` objects (sorted by position) or text triplets."""
    items = list(triplets)
    text_triplets: list[TextTriplet] = (
        as_text_triplets(items) if items and isinstance(items[0], Triplet) else [tuple(t) for t in items]  # type: ignore[misc]
    )
    if fmt == "lines":
        if not text_triplets:
            return EMPTY_MARKER
        return "\n".join(f"({e}, {c}, {CATEGORY_DISPLAY[k]})" for e, c, k in text_triplets)
    if fmt == "json":
        payload = [{"emotion": e, "cause": c, "category": CATEGORY_DISPLAY[k]} for e, c, k in text_triplets]
        return json.dumps(payload, ensure_ascii=False)
    raise ValueError(f"unknown output format {fmt!r}; expected one of {FORMATS}")
