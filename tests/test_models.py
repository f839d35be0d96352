"""Model folders: a GGUF shipped in chunk packages is joined once, in order, and a missing chunk is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct import models
from ecct.data.paths import REPO_ROOT
from ecct.models import ModelConfigError, join_gguf_parts


@pytest.fixture()
def chunk_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Three fake chunk packages under tmp_path and a private cache dir."""
    packages = {f"part{i}": tmp_path / "site" / f"part{i}" for i in range(1, 4)}
    for i, folder in enumerate(packages.values()):
        (folder / "data").mkdir(parents=True)
        (folder / "data" / f"m.gguf.part0{i}").write_bytes(bytes([i]) * (10 + i))
    monkeypatch.setattr(models, "package_dir", lambda name: packages[name])
    monkeypatch.setenv("ECCT_CACHE_DIR", str(tmp_path / "cache"))
    return packages


def test_chunks_are_joined_once_in_order(chunk_packages: dict[str, Path]) -> None:
    parts = [f"part{i}/data/m.gguf.part0{i - 1}" for i in (1, 2, 3)]
    folder = join_gguf_parts(parts, "m.gguf")
    assert (folder / "m.gguf").read_bytes() == b"\x00" * 10 + b"\x01" * 11 + b"\x02" * 12
    assert [p.name for p in folder.iterdir()] == ["m.gguf"]  # no temp file left behind
    for package in chunk_packages.values():  # joined once: later calls never read the chunks again
        for chunk in (package / "data").iterdir():
            chunk.unlink()
    assert join_gguf_parts(parts, "m.gguf") == folder


def test_a_missing_chunk_is_named(chunk_packages: dict[str, Path]) -> None:
    with pytest.raises(ModelConfigError, match=r"part2/data/nope.*does not exist"):
        join_gguf_parts(["part1/data/m.gguf.part00", "part2/data/nope"], "m.gguf")
    assert not (Path(models.cache_dir()) / "gguf" / "m.gguf").exists()


def test_the_gemma_config_lists_its_four_chunks_in_order() -> None:
    cfg = OmegaConf.load(REPO_ROOT / "conf" / "model" / "gemma3_270m.yaml")
    assert cfg.source == "embedded" and [p.rsplit(".", 1)[-1] for p in cfg.gguf_parts] == [
        "part00",
        "part01",
        "part02",
        "part03",
    ]
    assert all(p.endswith(cfg.gguf_file + p[p.rindex(".") :]) for p in cfg.gguf_parts)


def test_model_switches_must_be_true_or_false() -> None:
    # bool("no") is True: a plain truth test would run remote code or load 4-bit weights nobody asked for.
    from ecct.models import ModelConfigError, load_tokenizer, quantization_config

    with pytest.raises(ModelConfigError, match=r"model\.trust_remote_code='no': expected true or false"):
        load_tokenizer({"trust_remote_code": "no"}, "/nonexistent")
    with pytest.raises(ModelConfigError, match=r"peft\.load_in_4bit='off': expected true or false"):
        quantization_config({"load_in_4bit": "off"})
    assert quantization_config({"load_in_4bit": False}) is None
