"""The offline encoder: the 4-bit block format, the packaged e5 file, the rebuilt BertModel, the tiny test BERT."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from ecct.baseline import encoder
from ecct.models import ModelConfigError


def q4_block(scale: float, low: list[int], high: list[int]) -> bytes:
    """One 18-byte block: float16 scale, then 16 bytes of (high nibble << 4 | low nibble)."""
    return np.float16(scale).tobytes() + bytes((h << 4) | lo for lo, h in zip(low, high, strict=True))


def test_dequantize_q4_known_answer() -> None:
    low, high = list(range(16)), [15 - i for i in range(16)]
    row0 = q4_block(0.5, low, high)
    row1 = q4_block(-2.0, [8] * 16, [9] * 16)
    weights = encoder.dequantize_q4(row0 + row1, rows=2, cols=32)
    # Low nibbles are weights 0-15, high nibbles weights 16-31, each (nibble - 8) * scale.
    expected0 = [(q - 8) * 0.5 for q in low] + [(q - 8) * 0.5 for q in high]
    assert weights.dtype == np.float32 and weights.shape == (2, 32)
    assert weights[0].tolist() == expected0
    assert weights[1].tolist() == [0.0] * 16 + [-2.0] * 16


def test_dequantize_q4_refuses_a_wrong_size() -> None:
    with pytest.raises(encoder.E5FileError, match="needs 36 bytes"):
        encoder.dequantize_q4(b"\0" * 35, rows=2, cols=32)
    with pytest.raises(encoder.E5FileError, match="multiple of 32"):
        encoder.dequantize_q4(b"", rows=1, cols=20)


@pytest.fixture(scope="module")
def e5_bytes() -> bytes:
    model_file, _ = encoder._e5_sources()
    return model_file.read_bytes()


def test_the_packaged_e5_file_has_the_multilingual_e5_small_shape(e5_bytes: bytes) -> None:
    e5 = encoder.read_e5_file(e5_bytes)
    shape = (e5.hidden, e5.layers, e5.heads, e5.ffn, e5.vocab, e5.max_positions, e5.type_vocab)
    assert shape == (384, 12, 12, 1536, 250037, 512, 2)
    assert len(e5.pieces) == 250002 and e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert e5.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    names = {f"l{i}.{t}.{p}" for i in range(12) for t in encoder.LAYER_TENSORS for p in "wb"}
    assert names | {"emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"} <= set(e5.tensors)
    dtype, count, _, length = e5.tensors["l0.fi.w"]
    assert (dtype, count, length) == (encoder.DTYPE_Q4, 1536 * 384, 1536 * 12 * 18)


def test_a_damaged_e5_file_is_refused_with_a_reason(e5_bytes: bytes) -> None:
    with pytest.raises(encoder.E5FileError, match="bad magic"):
        encoder.read_e5_file(b"GGUF" + e5_bytes[4:])
    e5 = encoder.read_e5_file(e5_bytes)
    with pytest.raises(encoder.E5FileError, match="has 147456 elements"):
        encoder._tensor(e5_bytes, e5, "l0.q.w", (384, 385))
    truncated = e5_bytes[: len(e5_bytes) // 2]
    with pytest.raises(encoder.E5FileError, match="runs past the file end"):
        encoder.read_e5_file(truncated)
    assert struct.unpack_from("<i", e5_bytes, 8)[0] == 384


@pytest.fixture(scope="module")
def e5_model():  # type: ignore[no-untyped-def]
    from transformers import AutoModel, AutoTokenizer

    path = encoder.convert_e5_small()  # cached after the first call (~15 s)
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def _mean_pooled(tokenizer, model, texts: list[str]) -> torch.Tensor:  # type: ignore[no-untyped-def]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


@pytest.mark.parametrize(
    ("query", "related", "unrelated"),
    [
        (
            "query: how much protein should a woman eat per day",
            "passage: The average protein requirement for women is 46 grams per day.",
            "passage: The stock market fell sharply on Monday after the announcement.",
        ),
        ("query: 今天天气怎么样", "passage: 今天是晴天，阳光明媚，气温二十五度。", "passage: 他在银行办理了一笔贷款。"),
    ],
)
def test_the_rebuilt_encoder_embeds_related_text_closer(e5_model, query: str, related: str, unrelated: str) -> None:  # type: ignore[no-untyped-def]
    tokenizer, model = e5_model
    q, r, u = _mean_pooled(tokenizer, model, [query, related, unrelated])
    assert float(q @ r) > float(q @ u) + 0.05


def test_the_rebuilt_folder_is_a_plain_bert_with_a_fast_tokenizer(e5_model) -> None:  # type: ignore[no-untyped-def]
    tokenizer, model = e5_model
    assert model.config.model_type == "bert" and model.config.num_hidden_layers == 12
    assert tokenizer.is_fast and tokenizer.pad_token_id == 1 == model.config.pad_token_id
    # The pooler starts as the identity: tanh of the [CLS] vector.
    assert torch.equal(model.pooler.dense.weight, torch.eye(384))
    encoded = tokenizer("我很高兴", return_offsets_mapping=True, add_special_tokens=False)
    assert "".join("我很高兴"[s:e] for s, e in encoded["offset_mapping"]) == "我很高兴"


def test_the_tiny_bert_shares_the_real_tokenizer() -> None:
    from transformers import AutoConfig

    path = encoder.build_tiny_bert()
    config = AutoConfig.from_pretrained(path)
    tokenizer = encoder.load_encoder_tokenizer(str(path))
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (32, 2, len(tokenizer))
    assert tokenizer("高兴")["input_ids"][0] == tokenizer.cls_token_id == 0


def test_encoder_configs_that_cannot_work_say_why(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelConfigError, match="unknown"):
        encoder.resolve_encoder_path({"source": "onnx"})
    with pytest.raises(ModelConfigError, match="is empty"):
        encoder.resolve_encoder_path({"source": "hub", "name_or_path": "???"})
    with pytest.raises(ModelConfigError, match="does not exist"):
        encoder.resolve_encoder_path({"source": "hub", "name_or_path": str(tmp_path / "missing")})
    assert encoder.resolve_encoder_path({"source": "hub", "name_or_path": "bert-base-chinese"}) == "bert-base-chinese"
