"""Stage 2's input for one (emotion, cause) pair: a sequence pair of token ids.

First segment: ``[d=-1] emotion [SEP] cause``, the prefix being the clause distance (cause's clause - emotion's
clause, clipped to +-``max_clause_distance``; ``distance: false`` leaves it out). Second segment: the document
with the emotion wrapped in ``<e> </e>`` and the cause in ``<c> </c>`` where they stand (plain-text markers, so
any tokenizer reads them without new embeddings):

- ``context: document``: the whole marked document, or, when it does not fit ``max_length`` next to the first
  segment, the largest token window that does, centred on the two spans;
- ``context: window`` (the first baseline): ``context_chars`` characters before the earlier span to
  ``context_chars`` after the later one.

Truncation then takes tokens from the longer segment, so the span texts reach the model whole unless they alone
exceed ``max_length``.

Besides the token ids, ``encode_pairs`` returns where each marked span lies among the tokens (``emotion_span``,
``cause_span``: ``[first, last + 1)`` over the second segment's tokens from the opening marker to the closing one):
the classifier (``ecct.baseline.pair_model``) pools those tokens, since a document read whole looks nearly the same
to ``[CLS]`` whichever of its clauses is marked. A span cut off by truncation points at ``[CLS]``
(``NO_SPAN``) and is counted by ``spans_lost``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from ecct.baseline.pairs import Pair, PairSettings, clause_distance
from ecct.baseline.rules import split_clauses
from ecct.data.model import Document, Span

EMOTION_MARKERS = ("<e>", "</e>")
CAUSE_MARKERS = ("<c>", "</c>")
SPAN_KEYS = ("emotion_span", "cause_span")
NO_SPAN = (0, 1)  # a span truncation removed: the classifier reads [CLS] in its place


@dataclass(frozen=True)
class Marked:
    """A text with both spans marked; ``pair_start``/``pair_end``: the marked stretch from the first marker to
    the end of the last one; ``emotion``/``cause``: each span with its markers, ``<e>`` to ``</e>`` inclusive."""

    text: str
    pair_start: int
    pair_end: int
    emotion: tuple[int, int] = (0, 0)
    cause: tuple[int, int] = (0, 0)

    def cut(self, low: int, high: int) -> Marked:
        """``text[low:high]`` with every offset moved along (clipped to the cut)."""

        def moved(at: int) -> int:
            return min(max(at - low, 0), high - low)

        return Marked(
            self.text[low:high],
            moved(self.pair_start),
            moved(self.pair_end),
            (moved(self.emotion[0]), moved(self.emotion[1])),
            (moved(self.cause[0]), moved(self.cause[1])),
        )


def mark_spans(text: str, emotion: Span, cause: Span, low: int = 0, high: int | None = None) -> Marked:
    """``text[low:high]`` with `` <e> `` / `` </e> `` around the emotion and `` <c> `` / `` </c> `` around the cause."""
    high = len(text) if high is None else high
    inserts = [
        (emotion.start, 1, EMOTION_MARKERS[0]),
        (emotion.end, 0, EMOTION_MARKERS[1]),
        (cause.start, 1, CAUSE_MARKERS[0]),
        (cause.end, 0, CAUSE_MARKERS[1]),
    ]
    pieces, cursor, length, first = [], low, 0, 0
    at: dict[str, int] = {}
    for i, (position, _, marker) in enumerate(sorted(inserts)):  # closing before opening at the same position
        pieces += [text[cursor:position], f" {marker} "]
        length += position - cursor
        if i == 0:
            first = length
        at[marker] = length + 1 + (len(marker) if marker.startswith("</") else 0)  # opening: start; closing: end
        length += len(marker) + 2
        cursor = position
    pieces.append(text[cursor:high])
    emotion = (at[EMOTION_MARKERS[0]], at[EMOTION_MARKERS[1]])
    return Marked("".join(pieces), first, length, emotion, (at[CAUSE_MARKERS[0]], at[CAUSE_MARKERS[1]]))


def distance_tag(distance: int, clip: int | None) -> str:
    """``[d=-1]``, ``[d=0]``, ``[d=+2]``; beyond ``clip`` clipped to it (``[d=+3]`` reads "3 or more")."""
    if clip is not None:
        distance = max(-clip, min(clip, distance))
    return f"[d={distance:+d}]" if distance else "[d=0]"


def first_segments(
    pairs: Sequence[Pair], documents: Sequence[Document], sep_token: str, settings: PairSettings
) -> list[str]:
    """``[d=..] emotion [SEP] cause`` per pair (without the prefix when ``settings.distance`` is off)."""
    clauses: dict[int, list[Span]] = {}
    firsts = []
    for p in pairs:
        text = f"{p.emotion.text} {sep_token} {p.cause.text}"
        if settings.distance:
            if p.doc_index not in clauses:
                doc = documents[p.doc_index]
                clauses[p.doc_index] = split_clauses(doc.text, doc.language)
            distance = clause_distance(clauses[p.doc_index], p.emotion, p.cause)
            text = f"{distance_tag(distance, settings.max_clause_distance)} {text}"
        firsts.append(text)
    return firsts


def centred_window(offsets: Sequence[tuple[int, int]], pair_start: int, pair_end: int, size: int) -> tuple[int, int]:
    """Character range of the ``size`` consecutive tokens centred on the tokens covering ``[pair_start, pair_end)``
    (all tokens when there are no more than ``size``)."""
    n = len(offsets)
    if n <= size:
        return (offsets[0][0], offsets[-1][1]) if n else (0, 0)
    inside = [i for i, (a, b) in enumerate(offsets) if a < pair_end and b > pair_start] or [0]
    centre = (inside[0] + inside[-1] + 1) / 2
    first = max(0, min(n - size, round(centre - size / 2)))
    return offsets[first][0], offsets[first + size - 1][1]


def second_segments(
    pairs: Sequence[Pair],
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    firsts: Sequence[str],
    settings: PairSettings,
) -> list[Marked]:
    """The marked document part of each pair (see the module doc)."""
    if settings.context == "window":
        out = []
        for p in pairs:
            text = documents[p.doc_index].text
            low = max(0, min(p.emotion.start, p.cause.start) - settings.context_chars)
            high = min(len(text), max(p.emotion.end, p.cause.end) + settings.context_chars)
            out.append(mark_spans(text, p.emotion, p.cause, low, high))
        return out
    marked = [mark_spans(documents[p.doc_index].text, p.emotion, p.cause) for p in pairs]
    if not marked:
        return []
    room = settings.max_length - tokenizer.num_special_tokens_to_add(pair=True)
    first_lengths = [len(ids) for ids in tokenizer(list(firsts), add_special_tokens=False)["input_ids"]]
    # Whole documents, only to find the window: longer than the model's limit is expected here (verbose=False).
    encoded = tokenizer([m.text for m in marked], add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    out = []
    for m, n_first, offsets in zip(marked, first_lengths, encoded["offset_mapping"], strict=True):
        size = max(room - n_first, room // 2)  # an overlong first segment is cut by truncation instead
        if len(offsets) <= size:
            out.append(m)
            continue
        low, high = centred_window([tuple(o) for o in offsets], m.pair_start, m.pair_end, size)
        out.append(m.cut(low, high))
    return out


def token_range(
    offsets: Sequence[tuple[int, int]], sequence_ids: Sequence[int | None], chars: tuple[int, int]
) -> tuple[int, int]:
    """``[first, last + 1)`` of the second segment's tokens overlapping ``chars``; ``NO_SPAN`` when none does."""
    inside = [
        i
        for i, ((a, b), sequence) in enumerate(zip(offsets, sequence_ids, strict=True))
        if sequence == 1 and b > a and a < chars[1] and b > chars[0]
    ]
    return (inside[0], inside[-1] + 1) if inside else NO_SPAN


def spans_lost(encoded: dict[str, list[list[int]]]) -> int:
    """How many pairs lost a marked span to truncation (their ``emotion_span``/``cause_span`` is ``NO_SPAN``)."""
    return sum(any(tuple(encoded[key][i]) == NO_SPAN for key in SPAN_KEYS) for i in range(len(encoded["input_ids"])))


def encode_pairs(
    pairs: Sequence[Pair],
    documents: Sequence[Document],
    tokenizer: PreTrainedTokenizerBase,
    settings: PairSettings,
) -> dict[str, list[list[int]]]:
    """Token ids and attention masks of each pair's input, at most ``settings.max_length`` tokens, and the token
    ranges of its two marked spans (``emotion_span``, ``cause_span``; see the module doc)."""
    firsts = first_segments(pairs, documents, tokenizer.sep_token, settings)
    seconds = second_segments(pairs, documents, tokenizer, firsts, settings)
    if not pairs:
        return {"input_ids": [], "attention_mask": [], **{key: [] for key in SPAN_KEYS}}
    # longest_first takes tokens from the longer part, which is the document unless the spans themselves are long
    # (a predicted cause can be a whole paragraph); only_second would raise on such a pair.
    encoded = tokenizer(
        firsts,
        [m.text for m in seconds],
        truncation="longest_first",
        max_length=settings.max_length,
        return_offsets_mapping=True,
        verbose=False,
    )
    rows: dict[str, list[list[int]]] = {key: list(encoded[key]) for key in ("input_ids", "attention_mask")}
    for key in SPAN_KEYS:
        rows[key] = []
    for i, m in enumerate(seconds):
        offsets, sequence_ids = encoded["offset_mapping"][i], encoded.sequence_ids(i)
        rows["emotion_span"].append(list(token_range(offsets, sequence_ids, m.emotion)))
        rows["cause_span"].append(list(token_range(offsets, sequence_ids, m.cause)))
    return rows
