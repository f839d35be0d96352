"""Marker-constrained sampling: a logits processor under which a rewrite can only copy its source's markers verbatim.

Small local rewriters change, drop, repeat or invent ``[Emotion k]{...}`` markers far more often than they fail at
writing text (0.7% of 144 Gemma 3 270M rewrites survived the marker filters unconstrained). Under this processor,
per row:

- outside a marker, tokens that hold a marker delimiter (``[ ] { }`` by default) are masked, except a token that
  opens one of the row's *unused* markers (any plain text, then the delimiter and a prefix of that marker);
- inside a marker, only tokens that continue one of the unused markers it can still become are allowed, so the
  label, number and span text are copied byte for byte, and each marker at most once;
- end of sequence is masked until every marker has been written; special tokens are always masked;
- a row that has written every marker ends when its own token budget is spent (``max_new_tokens`` per row;
  generate's cap is the batch's longest);
- a row that wants to end early (its stop tokens hold more than ``end_threshold`` of the probability) or whose
  token budget just covers its unused markers must open one of them now: merely masking the end made Gemma 3
  270M spill chat-turn debris ("user", "model", other scripts) once it had written one marker and wanted to stop;
- ``stop_strings`` (where a sample is cut after decoding) cannot be written while markers are unused: the cut would
  drop them (Gemma 3 270M often began a "\n原文：" turn of its own before its last marker).

The model still chooses where each marker goes and writes everything around it. The filters stay the judge: the
processor works on bytes, so a delimiter of several characters built from two plain tokens escapes it (the marker
filter then rejects the sample).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Sequence

import torch
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from ecct.augment.marking import MarkerFormat
from ecct.decoding.constrained import ConstraintError, token_bytes

MAX_TOKEN_BYTES = 64  # longer tokens are never needed to continue a marker


class MarkerVocabulary:
    """A tokenizer's tokens sorted for marker constraints: plain tokens, tokens with a delimiter, bytes -> id."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, fmt: MarkerFormat):
        try:
            self.table = token_bytes(tokenizer)
        except ConstraintError as err:
            raise ConstraintError(f"{err} (for augmentation: augment.sampling.constrain_markers=false)") from err
        self.open = fmt.open.encode()
        delimiters = [d.encode() for d in (fmt.open, fmt.close, fmt.span_open, fmt.span_close)]
        plain = torch.zeros(len(self.table), dtype=torch.bool)
        self.openers: list[tuple[int, bytes]] = []  # (id, bytes from the opening delimiter on)
        self.by_bytes: dict[bytes, int] = {}
        for token_id, data in enumerate(self.table):
            if not data:
                continue  # special tokens, and tokens that write nothing
            self.by_bytes.setdefault(data, token_id)
            if not any(d in data for d in delimiters):
                plain[token_id] = True
            elif (at := data.find(self.open)) >= 0 and not any(d in data[:at] for d in delimiters):
                self.openers.append((token_id, data[at:]))
        self.plain = plain
        self._completing: dict[tuple[bytes, bool], list[int]] = {}

    def completing(self, rest: bytes, anywhere: bool) -> list[int]:
        """Tokens that start with ``rest`` (or, with ``anywhere``, contain it): those that would finish writing a
        stop string of which the row already wrote everything before ``rest``."""
        key = (rest, anywhere)
        if key not in self._completing:
            self._completing[key] = [
                i for i, data in enumerate(self.table) if data and (rest in data if anywhere else data.startswith(rest))
            ]
        return self._completing[key]

    def continuations(self, rest: bytes) -> list[int]:
        """Tokens whose bytes are a non-empty prefix of ``rest``."""
        found = (self.by_bytes.get(rest[:k]) for k in range(1, min(len(rest), MAX_TOKEN_BYTES) + 1))
        return [token_id for token_id in found if token_id is not None]


@functools.lru_cache(maxsize=4)
def marker_vocabulary(tokenizer: PreTrainedTokenizerBase, fmt: MarkerFormat) -> MarkerVocabulary:
    return MarkerVocabulary(tokenizer, fmt)


class MarkerLogitsProcessor(LogitsProcessor):
    """Masks, per row, every token that would write a marker other than an unused one of the row's source.

    ``markers[i]`` are the rendered markers (``fmt.render``) batch row ``i`` must copy, each once. The prompt width
    is read from the first call; each call consumes the tokens generated since the last one. A row that has
    emitted a stop token is left alone (generate pads it from then on).
    """

    def __init__(
        self,
        markers: Sequence[Sequence[str]],
        tokenizer: PreTrainedTokenizerBase,
        stop_ids: Sequence[int],
        fmt: MarkerFormat,
        max_new_tokens: int | Sequence[int] | None = None,
        end_threshold: float = 0.5,
        stop_strings: Sequence[str] = (),
    ):
        self.vocab = marker_vocabulary(tokenizer, fmt)
        self.remaining: list[Counter[bytes]] = [Counter(m.encode() for m in row) for row in markers]
        # Tokens each marker takes when forced (greedy longest match, as ``continuations`` allows), +1 to open it.
        self.cost = {m: len(self._tokens(m)) + 1 for row in self.remaining for m in row}
        # Per row: generate has one max_new_tokens for the batch, but a short source should get a short rewrite.
        budgets = [max_new_tokens] * len(markers) if isinstance(max_new_tokens, int | None) else list(max_new_tokens)
        if len(budgets) != len(markers):
            raise ValueError(f"{len(budgets)} token budgets for {len(markers)} rows")
        self.budgets: list[int | None] = budgets
        self.end_threshold = end_threshold
        self.stop_strings = [s.encode() for s in stop_strings if s]
        self.tail: list[bytes] = [b""] * len(markers)  # the last bytes written, to spot a stop string in the making
        self.pending: list[bytes] = [b""] * len(markers)  # the part of a marker written so far
        self.finished = [False] * len(markers)
        self.stop_ids = sorted(set(stop_ids))
        self.prompt_width: int | None = None
        self.consumed = 0
        self._ids: dict[tuple[bytes, frozenset[bytes]], torch.Tensor] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != len(self.remaining):
            raise ValueError(f"batch has {input_ids.shape[0]} rows but markers were given for {len(self.remaining)}")
        if self.prompt_width is None:
            self.prompt_width = input_ids.shape[1]
        new = input_ids[:, self.prompt_width + self.consumed :].tolist()
        self.consumed += len(new[0]) if new else 0
        width, device = scores.shape[1], scores.device
        stops = torch.tensor(self.stop_ids, dtype=torch.long, device=device)
        stops = stops[stops < width]
        # Batch-wide tensors, per-row decisions in Python: a few kernel launches, full passes over the logits and one
        # device sync per step, not per row.
        ending = self._ending(scores, stops)
        free_rows: list[int] = []  # rows left alone: finished ones
        plain_rows: list[int] = []  # rows that may write any plain token
        keep: list[tuple[int, torch.Tensor]] = []  # (row, ids) allowed besides
        ban: list[tuple[int, list[int]]] = []  # (row, ids) masked although plain
        for row, tokens in enumerate(new):
            self._consume(row, tokens)
            if self.finished[row]:
                free_rows.append(row)
                continue
            pending, unused = self.pending[row], any(self.remaining[row].values())
            budget = self.budgets[row]
            if budget is not None and self.consumed >= budget and not pending and not unused:
                keep.append((row, stops))  # its own budget is spent and every marker written: the row ends here
                continue
            tight = self._budget_tight(row)
            ids = self._extra_ids(row, device)
            if pending and tight:
                ids = ids[-1:]  # finish the marker in the fewest tokens
            elif not pending and not tight and not (unused and row in ending):
                plain_rows.append(row)
                banned = self._stop_string_ids(row)
                if banned:
                    ban.append((row, [i for i in banned if i < width]))
            keep.append((row, ids[ids < width]))
        plain = self.vocab.plain.to(device)
        if plain.shape[0] < width:  # the model's vocabulary is padded beyond the tokenizer's
            plain = torch.cat([plain, plain.new_zeros(width - plain.shape[0])])
        row_plain = torch.zeros(len(new), dtype=torch.bool, device=device)
        row_plain[plain_rows] = True
        allowed = row_plain[:, None] & plain[None, :width]
        if free_rows:
            allowed[free_rows] = True
        for row, ids in ban:
            allowed[row, ids] = False
        if keep:
            rows = torch.cat([torch.full((len(ids),), row, dtype=torch.long, device=device) for row, ids in keep])
            allowed[rows, torch.cat([ids for _, ids in keep])] = True
        return scores.masked_fill_(allowed.logical_not_(), float("-inf"))

    def _ending(self, scores: torch.Tensor, stops: torch.Tensor) -> set[int]:
        """Rows whose stop tokens hold more than ``end_threshold`` of the probability. P(stop) <= exp(lse(stops) -
        max), so the full log-sum-exp is only taken for rows where that bound passes the threshold."""
        if not stops.numel():
            return set()
        log_threshold = math.log(self.end_threshold)
        stop_lse = torch.logsumexp(scores[:, stops], -1)
        maybe = (stop_lse - scores.amax(-1) > log_threshold).nonzero().flatten()
        if not maybe.numel():
            return set()
        ending = stop_lse[maybe] - torch.logsumexp(scores[maybe], -1) > log_threshold
        return set(maybe[ending].tolist())

    def _tokens(self, marker: bytes) -> list[int]:
        """The greedy longest-match tokens of ``marker`` (how a forced marker is written at the least)."""
        tokens, position = [], 0
        while position < len(marker):
            longest = self.vocab.continuations(marker[position:])
            if not longest:
                break
            tokens.append(longest[-1])
            position += len(self.vocab.table[longest[-1]] or b"")
        return tokens

    def _budget_tight(self, row: int) -> bool:
        """Whether the tokens left just cover the row's unused markers (written with the longest tokens)."""
        budget = self.budgets[row]
        if budget is None:
            return False
        needed = sum(self.cost[m] * count for m, count in self.remaining[row].items())
        return needed > 0 and budget - self.consumed <= needed

    def _stop_string_ids(self, row: int) -> set[int]:
        """Tokens that would complete a stop string now; none once every marker is written."""
        if not self.stop_strings or not any(self.remaining[row].values()):
            return set()
        tail = self.tail[row]
        banned: set[int] = set()
        for stop in self.stop_strings:
            banned.update(self.vocab.completing(stop, anywhere=True))
            for k in range(1, len(stop)):
                if tail.endswith(stop[:k]):
                    banned.update(self.vocab.completing(stop[k:], anywhere=False))
        return banned

    def _consume(self, row: int, tokens: Sequence[int]) -> None:
        table = self.vocab.table
        keep = max((len(s) for s in self.stop_strings), default=1)
        for token in tokens:
            if self.finished[row]:
                return
            data = table[token] if token < len(table) else None
            if token in self.stop_ids or data is None:
                self.finished[row] = True
                return
            self.tail[row] = (self.tail[row] + data)[-keep:]
            if not self.pending[row]:
                at = data.find(self.vocab.open)
                if at < 0:
                    continue
                data = data[at:]
            self.pending[row] += data
            if self.remaining[row][self.pending[row]]:  # a marker is complete
                self.remaining[row][self.pending[row]] -= 1
                self.pending[row] = b""

    def _extra_ids(self, row: int, device: torch.device) -> torch.Tensor:
        """Ids allowed beyond the plain tokens: marker continuations (shortest first) inside a marker; outside,
        openers of unused markers, or stop tokens once every marker is written."""
        unused = frozenset(m for m, count in self.remaining[row].items() if count > 0)
        pending = self.pending[row]
        key = (pending, unused)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        if pending:
            lengths = {
                i: len(self.vocab.table[i] or b"")
                for m in unused
                if m.startswith(pending)
                for i in self.vocab.continuations(m[len(pending) :])
            }
            ids = sorted(lengths, key=lambda i: (lengths[i], i))
        else:
            ids = sorted({i for i, data in self.vocab.openers if any(m.startswith(data) for m in unused)})
            if not unused:
                ids = self.stop_ids
        if not ids:  # no token continues the marker (a vocabulary without byte tokens): let the row end
            ids = self.stop_ids
        cached = torch.tensor(ids, dtype=torch.long, device=device)
        self._ids[key] = cached
        return cached
