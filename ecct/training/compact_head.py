"""TRL's fused LM head, scoring only the labelled positions on every device (TRL does so on Triton devices only).

``SFTTrainer`` trains through TRL's fused LM head (``trl.trainer.utils.add_fused_lm_head``): per-token
log-probabilities in vocabulary tiles, without the full logits. On a device without Triton it projects *every*
position through the head and masks the unlabelled ones afterwards (same tile shapes on every batch, so XLA-style
backends do not recompile). On a CPU that recompiles nothing, the unlabelled positions (the document: most of a
row's suffix) are pure cost, and with a large vocabulary the head is most of the model: Gemma 3 270M's 262k x 640
embedding is 63% of its weights. Scoring only the labelled positions, as TRL does on CUDA, gives the same per-token
values (``tests/test_compact_head.py``: loss and gradients equal) for a fraction of the work (bench/RESULTS.md,
"CPU step").

TRL makes the choice with ``_use_triton(device)`` looked up in ``trl.trainer.utils``; this module rebinds that name
there only, so the kernels' own choice of Triton or torch tiles (``trl.kernels``) is untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import trl.trainer.utils as trl_utils

log = logging.getLogger(__name__)

_ATTRIBUTE = "_use_triton"
_original: Callable[[torch.device], bool] | None = getattr(trl_utils, _ATTRIBUTE, None)
_warned = False


def _compact_on_cpu(device: torch.device) -> bool:
    """TRL's answer, and also yes on CPU: there only the labelled positions go through the LM head."""
    assert _original is not None
    return device.type == "cpu" or _original(device)


def set_compact_lm_head(enabled: bool) -> bool:
    """Score only the labelled positions on CPU too (``enabled``), or restore TRL's choice; whether it is on now.

    Process-wide and idempotent. With a TRL that no longer decides through ``_use_triton``, nothing changes (logged
    once): training stays correct, only slower on CPU.
    """
    global _warned
    if _original is None:
        if enabled and not _warned:
            log.warning("compact_lm_head: this TRL has no trl.trainer.utils.%s; every position is scored", _ATTRIBUTE)
            _warned = True
        return False
    setattr(trl_utils, _ATTRIBUTE, _compact_on_cpu if enabled else _original)
    return enabled


def compact_lm_head_enabled() -> bool:
    return getattr(trl_utils, _ATTRIBUTE, None) is _compact_on_cpu
