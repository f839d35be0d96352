"""Verbatim-constrained decoding: a logits processor under which the model can only write ``lines`` output whose
spans are substrings of its document and whose categories are in the label set.

The output grammar (``ecct.output.formats``, ``lines``)::

    output  := "None" | triplet ("\\n" triplet)*
    triplet := "(" span ", " span ", " Category ")"
    span    := a non-empty substring of the document: it starts on a character that is not whitespace, ends on a
               character boundary and holds no line break (the format is one triplet per line)

Checking works on **bytes**, because byte-level BPE tokenizers split a Chinese character over several tokens:
a token is allowed when its bytes, appended to what the row has written, keep the output a prefix of some
sentence of the grammar. The grammar is run as a small NFA whose span states hold the set of document
positions where the span written so far ends (a span may contain ``", "`` itself, so several readings can be
alive at once). Per document a pool of candidate tokens is precomputed (tokens whose pieces between
delimiters are substrings of the document or of the fixed format text), grouped by first byte; per step only
the pool tokens whose first byte the current states accept are walked through the NFA, and the allowed set of
a state set is cached. End of sequence is allowed only after a complete ``)`` or ``None``.

Rows are independent (one grammar and one state set per row), so batched generation with any padding works:
the processor reads each row's generated tokens from the end of the prompt width it saw on its first call.

Optionally (``cause_clauses``, e.g. ``(-2, -1, 0, 1)``) a cause may only be copied from the clauses at those
relative positions to its emotion's clause (``ecct.baseline.rules.split_clauses``; language read from the text:
zh when it has CJK ideographs). Once the emotion is complete its occurrences give a *region*, merged byte
intervals carried in the cause's states; the cause starts and stays inside it.

Optionally (``cause_outside_emotion``) the cause may not overlap its emotion's text: every occurrence of the
emotion span is cut out of the cause's region (the whole document when ``cause_clauses`` is None). No cause of
the Gui training part contains its emotion's text (0 of 1,730), yet a model trained on it writes a few
(``丈夫的冷漠心灰意冷`` for the emotion ``心灰意冷``): under this option it has to write another cause. For it the
emotion's states carry their byte length. A region with nothing left (the emotion fills every allowed clause)
keeps the uncut region.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from ecct.output.formats import CATEGORY_DISPLAY, EMPTY_MARKER

State = tuple
"""An NFA state: ("start", first) | ("none", k) | ("span", role, ends) | ("sep", role) | ("cat", prefix) |
("after",) | ("done",). ``role`` 0 is the emotion span, 1 the cause; ``ends`` is None before the first byte.
Under ``cause_clauses`` or ``cause_outside_emotion``: ("sep", 0, region) and ("span", 1, ends, region), ``region``
a sorted tuple of disjoint ``(lo, hi)`` byte intervals of the document the cause must lie in. Under
``cause_outside_emotion`` the emotion's states are ("span", 0, ends, length), ``length`` its bytes so far."""

Region = tuple[tuple[int, int], ...]

_OPEN, _CLOSE, _COMMA, _SPACE, _NEWLINE = (ord(c) for c in "(), \n")
_NONE = EMPTY_MARKER.encode()
_CATEGORY_NAMES = frozenset(name.encode() for name in CATEGORY_DISPLAY.values())
_CATEGORY_PREFIXES = frozenset(name[:k] for name in _CATEGORY_NAMES for k in range(1, len(name) + 1))
_SPAN_FORBIDDEN_CHARS = "\n\r()（）[]"  # line breaks end a triplet; brackets would be read as triplet boundaries
_SPAN_NO_START = frozenset(b" \t\n\r\x0b\x0c") | frozenset(range(0x80, 0xC0))  # whitespace, UTF-8 continuation
_DELIMITERS = b",()\n"
_FORMAT_TEXT = b" ".join([_NONE, *sorted(_CATEGORY_NAMES)])
_START = ("start", True)
_FINAL_KINDS = frozenset({"after", "done"})
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")  # as ecct.inference.inputs reads the language


class ConstraintError(ValueError):
    """Constrained decoding cannot be set up as asked; the message says why."""


# ---- tokens as bytes -------------------------------------------------------------------------------------------


def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, reversed (character -> byte)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def _decoder_kind(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = str(backend.decoder) if backend is not None and backend.decoder is not None else ""
    if "ByteLevel" in decoder:
        return "byte_level"
    if "ByteFallback" in decoder or "Metaspace" in decoder or "▁" in decoder:
        return "sentencepiece"
    return "decode"


@dataclass(frozen=True)
class TokenTable:
    """Per token id: its bytes (None for special tokens) and its pieces between format delimiters."""

    data: tuple[bytes | None, ...]
    pieces: tuple[tuple[bytes, ...], ...]

    @classmethod
    def of(cls, tokenizer: PreTrainedTokenizerBase) -> TokenTable:
        data = token_bytes(tokenizer)
        return cls(data, tuple(_pieces(token) if token else () for token in data))


@functools.lru_cache(maxsize=4)
def _token_table(tokenizer: PreTrainedTokenizerBase) -> TokenTable:
    return TokenTable.of(tokenizer)


def _pieces(data: bytes) -> tuple[bytes, ...]:
    """The non-empty runs of ``data`` between delimiters, leading spaces dropped (the space of ", " precedes a
    span or a category). In any output, each such run is part of a document span or of the format text."""
    pieces, start = [], 0
    for i, byte in enumerate(data):
        if byte in _DELIMITERS:
            pieces.append(data[start:i])
            start = i + 1
    pieces.append(data[start:])
    return tuple(stripped for piece in pieces if (stripped := piece.lstrip(b" ")))


def token_bytes(tokenizer: PreTrainedTokenizerBase) -> tuple[bytes | None, ...]:
    """The bytes each token id writes into the decoded text; None for special tokens (never part of a span)."""
    special = set(tokenizer.all_special_ids) | {
        i for i, added in tokenizer.added_tokens_decoder.items() if getattr(added, "special", False)
    }
    ids = list(range(len(tokenizer)))
    pieces = tokenizer.convert_ids_to_tokens(ids)
    kind = _decoder_kind(tokenizer)
    byte_of = _byte_level_alphabet() if kind == "byte_level" else {}
    table: list[bytes | None] = []
    for token_id, piece in zip(ids, pieces, strict=True):
        if token_id in special or piece is None:
            table.append(None)
        elif kind == "byte_level" and all(ch in byte_of for ch in piece):
            table.append(bytes(byte_of[ch] for ch in piece))
        elif kind == "sentencepiece" and len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            table.append(bytes([int(piece[3:5], 16)]))
        elif kind == "sentencepiece":
            table.append(piece.replace("▁", " ").encode())
        else:
            text = tokenizer.decode([token_id])
            table.append(None if "\ufffd" in text else text.encode())
    _check_table(tokenizer, table)
    return tuple(table)


def _check_table(tokenizer: PreTrainedTokenizerBase, table: Sequence[bytes | None]) -> None:
    """Refuse a tokenizer whose decoded text is not the concatenation of its tokens' bytes (unsound otherwise)."""
    probe = "(高兴, 看到孩子们 reading, Happiness)\n(afraid, the night , alone, Fear)"
    ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
    joined = b"".join(table[i] or b"" for i in ids)
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    if joined.decode("utf-8", errors="replace") != decoded:
        raise ConstraintError(
            f"constrained decoding cannot map the tokens of {type(tokenizer).__name__} to bytes: "
            f"{decoded!r} decodes differently from its tokens ({joined!r}); turn constrained decoding off"
        )


# ---- the grammar over one document -----------------------------------------------------------------------------


class DocumentGrammar:
    """The ``lines`` grammar for one document, with the allowed-token sets of the states met so far."""

    def __init__(
        self,
        document: str,
        table: TokenTable,
        cause_clauses: Sequence[int] | None = None,
        cause_outside_emotion: bool = False,
    ):
        self.doc = document.encode()
        self.table = table.data
        # blocked[i]: byte i belongs to a character no span may contain
        self.blocked = bytearray(len(self.doc))
        position = 0
        for char in document:
            width = len(char.encode())
            if char in _SPAN_FORBIDDEN_CHARS:
                self.blocked[position : position + width] = b"\x01" * width
            position += width
        starts: dict[int, list[int]] = {}
        for i, byte in enumerate(self.doc):
            if byte not in _SPAN_NO_START and not self.blocked[i]:
                starts.setdefault(byte, []).append(i + 1)
        self.span_starts = {byte: tuple(ends) for byte, ends in starts.items()}
        self.pool = self._pool_by_first_byte(table.pieces)
        self._allowed: dict[frozenset[State], list[int]] = {}
        self.cause_clauses = tuple(cause_clauses) if cause_clauses is not None else None
        if self.cause_clauses is not None:
            self._setup_clauses(document)
        self.cause_outside_emotion = cause_outside_emotion
        self._restricts_cause = self.cause_clauses is not None or cause_outside_emotion
        self._cause_regions: dict[tuple[tuple[int, ...], int | None], Region] = {}
        self._region_first: dict[Region, tuple[int, ...]] = {}

    # cause clause windows --------------------------------------------------------------------------------

    def _setup_clauses(self, document: str) -> None:
        from ecct.baseline.rules import clause_index, split_clauses

        clauses = split_clauses(document, "zh" if _CJK.search(document) else "en")
        byte_at = [0]  # byte offset of each character position
        char_of = []  # character index of each byte
        for i, char in enumerate(document):
            width = len(char.encode())
            byte_at.append(byte_at[-1] + width)
            char_of.extend([i] * width)
        self._char_of = char_of
        self._clause_index = functools.partial(clause_index, clauses)
        self._clause_bytes = [(byte_at[c.start], byte_at[c.end]) for c in clauses]
        self._regions: dict[tuple[int, ...], Region] = {}

    def region(self, ends: tuple[int, ...]) -> Region:
        """The bytes a cause may come from, given the emotion's end positions: per occurrence (clause of its last
        byte) each allowed clause, consecutive allowed clauses joined with what lies between them; merged."""
        cached = self._regions.get(ends)
        if cached is not None:
            return cached
        offsets, spans, count = self.cause_clauses or (), self._clause_bytes, len(self._clause_bytes)
        intervals = []
        for end in ends:
            if not count:
                break
            index = self._clause_index(self._char_of[end - 1])
            allowed = sorted({index + o for o in offsets if 0 <= index + o < count})
            run_start = prev = None
            for k in allowed:
                if prev is not None and k == prev + 1:
                    prev = k
                    continue
                if run_start is not None:
                    intervals.append((spans[run_start][0], spans[prev][1]))  # type: ignore[index]
                run_start = prev = k
            if run_start is not None:
                intervals.append((spans[run_start][0], spans[prev][1]))  # type: ignore[index]
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(intervals):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        self._regions[ends] = result = tuple(merged)
        return result

    def cause_region(self, ends: tuple[int, ...], length: int | None) -> Region:
        """The bytes a cause may come from, given the emotion's end positions and (``cause_outside_emotion``) its
        byte length: the clause region, or the whole document, less every occurrence of the emotion."""
        key = (ends, length)
        cached = self._cause_regions.get(key)
        if cached is not None:
            return cached
        region = self.region(ends) if self.cause_clauses is not None else ((0, len(self.doc)),)
        if length:
            outside = _subtract(region, sorted((end - length, end) for end in ends))
            region = outside or region  # nothing left outside the emotion: the uncut region
        self._cause_regions[key] = region
        return region

    def _region_first_bytes(self, region: Region) -> tuple[int, ...]:
        """The bytes a cause under ``region`` can start with (as ``span_starts`` does, inside the region)."""
        cached = self._region_first.get(region)
        if cached is None:
            doc, blocked = self.doc, self.blocked
            cached = tuple(
                {doc[i] for lo, hi in region for i in range(lo, hi) if doc[i] not in _SPAN_NO_START and not blocked[i]}
            )
            self._region_first[region] = cached
        return cached

    def _pool_by_first_byte(self, pieces: Sequence[tuple[bytes, ...]]) -> dict[int, list[int]]:
        """Tokens that can occur in some output for this document (a superset of every allowed set): every
        piece of the token is a substring of the document or of the format text."""
        doc, fixed, table = self.doc, _FORMAT_TEXT, self.table
        pool: dict[int, list[int]] = {}
        for token_id, token_pieces in enumerate(pieces):
            data = table[token_id]
            if data and all(piece in doc or piece in fixed for piece in token_pieces):
                pool.setdefault(data[0], []).append(token_id)
        return pool

    # NFA ---------------------------------------------------------------------------------------------------

    def step(self, state: State, byte: int) -> Iterable[State]:
        kind = state[0]
        if kind == "start":
            if byte == _OPEN and self.span_starts:  # a document with nothing to copy can only be "None"
                yield ("span", 0, None, 0) if self.cause_outside_emotion else ("span", 0, None)
            elif state[1] and byte == _NONE[0]:
                yield ("none", 1)
        elif kind == "none":
            k = state[1]
            if byte == _NONE[k]:
                yield ("done",) if k + 1 == len(_NONE) else ("none", k + 1)
        elif kind == "span":
            if state[1] == 1 and len(state) == 4:
                yield from self._step_in_region(state, byte)
                return
            role, ends = state[1], state[2]
            length = state[3] if len(state) == 4 else None  # the emotion's bytes, under cause_outside_emotion
            if ends is None:
                starts = self.span_starts.get(byte)
                if starts:
                    yield ("span", role, starts) if length is None else ("span", role, starts, 1)
                return
            doc, blocked, n = self.doc, self.blocked, len(self.doc)
            moved = tuple(e + 1 for e in ends if e < n and doc[e] == byte and not blocked[e])
            if moved:
                yield ("span", role, moved) if length is None else ("span", role, moved, length + 1)
            if byte == _COMMA and self._on_boundary(ends[0]):
                if role == 0 and self._restricts_cause:
                    region = self.cause_region(ends, length)
                    # An empty region (every allowed clause outside the document): the cause is unrestricted.
                    yield ("sep", 0, region) if region else ("sep", 0)
                else:
                    yield ("sep", role)
        elif kind == "sep":
            if byte == _SPACE:
                if state[1] == 0:
                    yield ("span", 1, None) if len(state) == 2 else ("span", 1, None, state[2])
                else:
                    yield ("cat", b"")
        elif kind == "cat":
            prefix = state[1]
            if byte == _CLOSE and prefix in _CATEGORY_NAMES:
                yield ("after",)
            longer = prefix + bytes((byte,))
            if longer in _CATEGORY_PREFIXES:
                yield ("cat", longer)
        elif kind == "after" and byte == _NEWLINE:
            yield ("start", False)

    def _step_in_region(self, state: State, byte: int) -> Iterable[State]:
        """A cause span under a region: it starts on, and consumes, region bytes only."""
        _, role, ends, region = state
        if ends is None:
            starts = self.span_starts.get(byte)
            if starts:
                inside = tuple(e for e in starts if _inside(region, e - 1))
                if inside:
                    yield ("span", role, inside, region)
            return
        doc, blocked, n = self.doc, self.blocked, len(self.doc)
        moved = tuple(e + 1 for e in ends if e < n and doc[e] == byte and not blocked[e] and _inside(region, e))
        if moved:
            yield ("span", role, moved, region)
        if byte == _COMMA and self._on_boundary(ends[0]):
            yield ("sep", role)

    def _on_boundary(self, end: int) -> bool:
        """A span ending at ``end`` is whole characters: every occurrence of it ends on the same kind of byte."""
        return end == len(self.doc) or not 0x80 <= self.doc[end] < 0xC0

    def advance(self, states: frozenset[State], data: bytes) -> frozenset[State]:
        for byte in data:
            states = frozenset(nxt for state in states for nxt in self.step(state, byte))
            if not states:
                break
        return states

    def first_bytes(self, state: State) -> Iterable[int]:
        kind = state[0]
        if kind == "start":
            return (_OPEN, _NONE[0]) if state[1] else (_OPEN,)
        if kind == "none":
            return (_NONE[state[1]],)
        if kind == "span":
            ends = state[2]
            region = state[3] if state[1] == 1 and len(state) == 4 else None
            if ends is None:
                return self.span_starts.keys() if region is None else self._region_first_bytes(region)
            following = {
                self.doc[e]
                for e in ends
                if e < len(self.doc) and not self.blocked[e] and (region is None or _inside(region, e))
            }
            return (*following, _COMMA)
        if kind == "sep":
            return (_SPACE,)
        if kind == "cat":
            prefix = state[1]
            return (
                _CLOSE,
                *{name[len(prefix)] for name in _CATEGORY_NAMES if name.startswith(prefix) and name != prefix},
            )
        if kind == "after":
            return (_NEWLINE,)
        return ()

    def allowed(self, states: frozenset[State]) -> list[int]:
        """Token ids that keep the output a prefix of a grammatical, verbatim output (end of sequence excluded)."""
        cached = self._allowed.get(states)
        if cached is not None:
            return cached
        first = {byte for state in states for byte in self.first_bytes(state)}
        allowed = [
            token_id
            for byte in first
            for token_id in self.pool.get(byte, ())
            if self.advance(states, self.table[token_id])  # type: ignore[arg-type]
        ]
        self._allowed[states] = allowed
        return allowed


def _inside(region: Region, position: int) -> bool:
    return any(lo <= position < hi for lo, hi in region)


def _subtract(region: Region, cuts: Sequence[tuple[int, int]]) -> Region:
    """``region`` without the byte intervals ``cuts`` (sorted by start), empty pieces dropped."""
    pieces = []
    for lo, hi in region:
        for cut_lo, cut_hi in cuts:
            if cut_hi <= lo or cut_lo >= hi:
                continue
            if cut_lo > lo:
                pieces.append((lo, cut_lo))
            lo = max(lo, cut_hi)
            if lo >= hi:
                break
        if lo < hi:
            pieces.append((lo, hi))
    return tuple(pieces)


def can_end(states: frozenset[State]) -> bool:
    return any(state[0] in _FINAL_KINDS for state in states)


# ---- the logits processor --------------------------------------------------------------------------------------


class VerbatimLogitsProcessor(LogitsProcessor):
    """Masks, per row, every token that would break the ``lines`` grammar or copy a span not in the row's document.

    ``documents[i]`` is the document of batch row ``i``. The prompt width is read from the first call (every row
    of a batch shares it, whatever the padding), and each call consumes the tokens generated since the last one.
    A row that has emitted a stop token is left alone (generate pads it from then on). ``cause_clauses``: the
    relative clause positions a cause may be copied from (None: anywhere; see the module docstring);
    ``cause_outside_emotion``: a cause may not overlap its emotion's text.
    ``allow_empty=False`` refuses the empty answer: every row writes at least one triplet.
    A triplet line that repeats an earlier one ends the row: the parser drops repeats anyway, and a small model that
    repeats a line repeats it until ``max_new_tokens`` (measured on ECF: every short conversation), which costs the
    whole token budget for nothing.
    """

    def __init__(
        self,
        documents: Sequence[str],
        tokenizer: PreTrainedTokenizerBase,
        stop_ids: Sequence[int],
        cause_clauses: Sequence[int] | None = None,
        allow_empty: bool = True,
        cause_outside_emotion: bool = False,
    ):
        table = _token_table(tokenizer)
        self.table = table.data
        self.grammars = [DocumentGrammar(doc, table, cause_clauses, cause_outside_emotion) for doc in documents]
        # allow_empty=False: the answer must hold a triplet ("None" is refused), unless the document has nothing
        # a span could copy, where "None" is the only answer.
        self.states: list[frozenset[State]] = [
            frozenset({_START if allow_empty or not grammar.span_starts else ("start", False)})
            for grammar in self.grammars
        ]
        self.finished = [False] * len(documents)
        self.written = [bytearray() for _ in documents]
        self.stop_ids = sorted(set(stop_ids))
        self.prompt_width: int | None = None
        self.consumed = 0
        self._tensors: dict[tuple[int, frozenset[State]], torch.Tensor] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != len(self.grammars):
            raise ConstraintError(f"batch has {input_ids.shape[0]} rows but {len(self.grammars)} documents were given")
        if self.prompt_width is None:
            self.prompt_width = input_ids.shape[1]
        new = input_ids[:, self.prompt_width + self.consumed :].tolist()
        self.consumed += len(new[0]) if new else 0
        mask = torch.full_like(scores, float("-inf"))
        for row, tokens in enumerate(new):
            self._consume(row, tokens)
            if self.finished[row]:
                mask[row] = 0
                continue
            mask[row, self._allowed_tensor(row, scores.shape[1], scores.device)] = 0
        return scores + mask

    def _consume(self, row: int, tokens: Sequence[int]) -> None:
        for token in tokens:
            if self.finished[row]:
                return
            data = self.table[token] if token < len(self.table) else None
            if token in self.stop_ids or data is None:
                self.finished[row] = True
                return
            self.states[row] = self.grammars[row].advance(self.states[row], data)
            self.written[row] += data

    def _repeats_a_line(self, row: int) -> bool:
        """The row has just closed a triplet line that it wrote before."""
        if not any(state[0] == "after" for state in self.states[row]):
            return False
        *earlier, last = bytes(self.written[row]).split(b"\n")
        return last in earlier

    def _allowed_tensor(self, row: int, width: int, device: torch.device) -> torch.Tensor:
        if self._repeats_a_line(row):
            return torch.tensor([i for i in self.stop_ids if i < width], dtype=torch.long, device=device)
        key = (row, self.states[row])
        cached = self._tensors.get(key)
        if cached is None:
            states = self.states[row]
            ids = self.grammars[row].allowed(states) if states else []
            if can_end(states) or not ids:  # no continuation left (never with byte-level vocabularies): stop
                ids = [*ids, *self.stop_ids]
            cached = torch.tensor(sorted(i for i in set(ids) if i < width), dtype=torch.long, device=device)
            self._tensors[key] = cached
        return cached
