"""Sweep job folder names stay under the file system's name limit and stay distinct."""

from __future__ import annotations

from ecct.runs.resolvers import MAX_DIRNAME_BYTES, short_dirname


def test_short_override_lists_keep_their_name() -> None:
    assert short_dirname("prompt=desc,seed=1") == "prompt=desc,seed=1"


def test_long_override_lists_get_a_short_unique_name() -> None:
    overrides = ",".join(f"trainer.option_{i}=长值{i}" for i in range(40)) + ",prompt={}"
    first, second = short_dirname(overrides.format("desc")), short_dirname(overrides.format("full"))
    assert first != second  # the hash of the whole tells jobs apart when the kept part is the same
    assert len(first.encode()) <= MAX_DIRNAME_BYTES + 11 and first.startswith("trainer.option_0=")
    assert "\ufffd" not in first  # never cuts a multi-byte character in half
