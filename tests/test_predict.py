"""Prediction: the shared-prefix cache is exact, inputs are read strictly, run dirs are located, vLLM arguments are
built from the adapter, and ``python -m ecct.predict`` writes records with offsets and violations."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig

from ecct.data.errors import DataError
from ecct.data.paths import REPO_ROOT
from ecct.data.readers import read_jsonl
from ecct.decoding.generate import GenerationSettings, generate, render_prompts
from ecct.decoding.prefix_cache import PrefixCache, common_prefix_length, unsupported_reason
from ecct.inference.inputs import PredictError, read_inputs
from ecct.inference.pipeline import predict
from ecct.inference.vllm_backend import choose_backend, vllm_engine_args, vllm_lora_rank, vllm_sampling_args
from ecct.models import load_tokenizer, resolve_model_path
from ecct.output.parsing import parse_output
from ecct.predict import quote_free_text
from ecct.prompts import PromptConfig, build_messages
from ecct.runs.locate import RunFolderError, locate_run

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "ecct" / "data" / "demo" / "demo.jsonl"
TINY = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "model" / "tiny.yaml"))
PROMPT = {"name": "desc", "components": ["description", "format"], "language": "en", "output_format": "lines"}


@pytest.fixture(scope="module")
def tokenizer():
    cfg = OmegaConf.create(TINY)
    return load_tokenizer(cfg, resolve_model_path(cfg))


@pytest.fixture(scope="module")
def talkative_model(tokenizer):
    """A random Llama with untied, large weights: its greedy outputs differ from document to document (the cached
    tiny model repeats one token), so equal outputs mean something."""
    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
        initializer_range=0.3,
        eos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def demo_docs():
    return read_jsonl(DEMO).documents


def test_prefix_cache_gives_the_outputs_of_plain_per_document_generation(tokenizer, talkative_model, demo_docs):
    docs = demo_docs[:3] + demo_docs[-3:]  # zh and en, different lengths; batches of 4 leave a short last batch
    prompts = [build_messages(d.text, PromptConfig.from_config(PROMPT)) for d in docs]
    plain = GenerationSettings(max_new_tokens=8, batch_size=1, prefix_cache=False, progress=False)
    cached = GenerationSettings(max_new_tokens=8, batch_size=4, prefix_cache=True, progress=False)
    reference = generate(talkative_model, tokenizer, prompts, plain)
    assert len(set(reference)) == len(reference) and all(reference)  # outputs vary: the comparison has teeth
    assert generate(talkative_model, tokenizer, prompts, cached) == reference


def test_prefix_layout_keeps_each_tokens_position(tokenizer, talkative_model, demo_docs):
    prompts = render_prompts(tokenizer, [build_messages(d.text, PromptConfig.from_config(PROMPT)) for d in demo_docs])
    shared = PrefixCache.build(talkative_model, prompts)
    assert shared is not None and len(shared.prefix) == common_prefix_length(prompts) > 50
    rows = [prompts[0], prompts[-1]]
    input_ids, attention = shared.layout(rows, tokenizer.pad_token_id)
    positions = attention.cumsum(-1) - 1  # what generate derives position ids from
    for row, ids in enumerate(rows):
        real = attention[row].bool()
        assert input_ids[row, real].tolist() == ids  # the row's own tokens, in order, pads only in between
        assert positions[row, real].tolist() == list(range(len(ids)))
    cache = shared.for_batch(2)[shared.argument]
    assert cache.get_seq_length() == len(shared.prefix)
    assert shared.cache.get_seq_length() == len(shared.prefix)  # the stored prefix is untouched by the copy


def test_common_prefix_leaves_every_row_a_token():
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5]]) == 2
    assert common_prefix_length([[7], [7, 8]]) == 0


def test_prefix_cache_is_skipped_for_sliding_window_models(tokenizer):
    small = {"vocab_size": 128, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1}
    small |= {"num_attention_heads": 2, "num_key_value_heads": 1}
    sliding = LlamaForCausalLM(LlamaConfig(**small))  # architecture irrelevant: the config decides
    sliding.config.sliding_window = 16
    assert unsupported_reason(sliding) == "sliding-window attention"
    assert unsupported_reason(LlamaForCausalLM(LlamaConfig(**small))) is None
    assert MistralConfig().sliding_window  # the kind of config the check is for


# ---- inputs ------------------------------------------------------------------------------------------------


def test_text_inputs_and_text_files(tmp_path):
    one = read_inputs(text="她害怕一个人在家过夜。")
    assert [(d.id, d.language) for d in one.documents] == [("text", "zh")]
    lines = tmp_path / "docs.txt"
    lines.write_text("I was afraid.\n\n  \n我很高兴。\n", encoding="utf-8")
    read = read_inputs(path=lines)
    assert [(d.id, d.text, d.language) for d in read.documents] == [
        ("line-1", "I was afraid.", "en"),
        ("line-4", "我很高兴。", "zh"),
    ]
    whole = read_inputs(path=lines, text_file_mode="whole", language="en")
    assert len(whole.documents) == 1 and "\n" in whole.documents[0].text
    with pytest.raises(PredictError, match="exactly one"):
        read_inputs(text="x", path=lines)


def test_jsonl_inputs_simple_and_corpus_records(tmp_path):
    simple = tmp_path / "simple.jsonl"
    simple.write_text('{"id": 7, "text": "I was afraid."}\n{"text": "我很高兴。", "title": "ignored"}\n')
    read = read_inputs(path=simple)
    assert [(d.id, d.language) for d in read.documents] == [("7", "en"), ("line-2", "zh")] and not read.labelled
    corpus = read_inputs(path=DEMO)
    assert corpus.labelled and len(corpus.documents) == 30 and corpus.documents[0].triplets


def test_bad_jsonl_lines_name_the_line_or_are_counted(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "fine"}\n{"id": "b"}\nnot json\n{"id": "a", "text": "again"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl: line 2: 'text' must be a non-blank string"):
        read_inputs(path=bad)
    lenient = read_inputs(path=bad, lenient=True)
    assert [d.id for d in lenient.documents] == ["a"]
    assert lenient.skipped.total == 3 and lenient.skipped.counts["duplicate id"] == 1


def test_text_values_are_quoted_for_hydra():
    assert quote_free_text(["text=她说：'好'", "input=x.jsonl"]) == ["text='她说：\\'好\\''", "input=x.jsonl"]
    assert quote_free_text(['text="already quoted"']) == ['text="already quoted"']
    assert quote_free_text(["text=a ${b}"]) == ["text='a \\${b}'"]


# ---- run directories and vLLM -----------------------------------------------------------------------------


def make_run(tmp_path: Path, tokenizer, rank: int = 4) -> Path:
    """A run directory as ecct.train leaves it: config.yaml and a LoRA adapter (random, so it changes outputs)."""
    run_dir = tmp_path / "run"
    config = {"model": TINY, "peft": {"method": "lora", "load_in_4bit": False}, "prompt": PROMPT}
    config["eval"] = {"max_new_tokens": 12, "batch_size": 4}
    run_dir.mkdir()
    OmegaConf.save(OmegaConf.create(config), run_dir / "config.yaml")
    from ecct.models import load_model

    base = load_model(OmegaConf.create(TINY), {"load_in_4bit": False})
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", init_lora_weights=False)
    torch.manual_seed(0)
    get_peft_model(base, lora).save_pretrained(run_dir / "adapter")
    return run_dir


def test_locate_run_accepts_the_run_or_its_adapter(tmp_path, tokenizer):
    run_dir = make_run(tmp_path, tokenizer)
    for path in (run_dir, run_dir / "adapter"):
        run = locate_run(path)
        assert run.adapter_dir == run_dir / "adapter" and run.model_dir is None and run.lora_rank == 4
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match=r"no config\.yaml"):
        locate_run(tmp_path / "empty")


def test_locate_run_accepts_a_trainer_checkpoint_of_the_run(tmp_path, tokenizer):
    run_dir = make_run(tmp_path, tokenizer)
    checkpoint = run_dir / "checkpoints" / "checkpoint-30"
    shutil.copytree(run_dir / "adapter", checkpoint)
    run = locate_run(checkpoint)
    assert run.adapter_dir == checkpoint and run.config.eval.max_new_tokens == 12
    # A folder named checkpoints/ outside a run is not a run: the error still says what was expected.
    stray = tmp_path / "elsewhere" / "checkpoints" / "checkpoint-1"
    shutil.copytree(run_dir / "adapter", stray)
    with pytest.raises(RunFolderError, match=r"checkpoints/checkpoint-N"):
        locate_run(stray)


def test_vllm_arguments_come_from_the_adapter(tmp_path, tokenizer):
    run = locate_run(make_run(tmp_path, tokenizer, rank=12))
    args = vllm_engine_args(run, "/models/base")
    assert args["enable_lora"] and args["max_lora_rank"] == 16 and args["max_loras"] == 1
    assert args["enable_prefix_caching"] and args["model"] == "/models/base" and args["dtype"] == "float32"
    assert [vllm_lora_rank(r) for r in (1, 8, 9, 64, 300)] == [1, 8, 16, 64, 320]
    sampling = vllm_sampling_args(96, [2])
    assert sampling == {"temperature": 0.0, "max_tokens": 96, "stop_token_ids": [2], "skip_special_tokens": True}


def test_backend_choice(monkeypatch):
    monkeypatch.setattr("ecct.inference.vllm_backend.vllm_available", lambda: False)
    assert choose_backend("auto", constrained=False) == "transformers"
    assert choose_backend("vllm", constrained=False) == "vllm"
    monkeypatch.setattr("ecct.inference.vllm_backend.vllm_available", lambda: True)
    assert choose_backend("auto", constrained=True) == "transformers"
    with pytest.raises(PredictError, match="transformers backend only"):
        choose_backend("vllm", constrained=True)


def test_predict_on_a_labelled_corpus_with_constraint(tmp_path, tokenizer):
    run_dir = make_run(tmp_path, tokenizer)
    cfg = OmegaConf.load(REPO / "conf" / "predict.yaml")
    corpus = tmp_path / "labelled.jsonl"
    lines = DEMO.read_text(encoding="utf-8").splitlines()
    corpus.write_text("\n".join(lines[:3] + lines[-3:]) + "\n", encoding="utf-8")  # zh and en
    cfg.adapter, cfg.input, cfg.constrained, cfg.progress, cfg.max_new_tokens = (
        str(run_dir),
        str(corpus),
        True,
        False,
        8,
    )
    result = predict(cfg)
    records, metrics = result.records, result.metrics
    assert len(records) == 6 and metrics is not None and "span/triplet/f1" in metrics
    assert result.header["decoding"] == "constrained"
    for record in records:
        assert set(record) == {"id", "text", "output", "triplets", "violations", "gold"}
        kinds = {v["kind"] for v in record["violations"]}
        assert "not_verbatim" not in kinds
        assert parse_output(record["output"], record["text"]).to_dict()["triplets"] == record["triplets"]


def test_command_line_writes_jsonl(tmp_path, tokenizer):
    run_dir = make_run(tmp_path, tokenizer)
    out = tmp_path / "preds.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "ecct.predict", f"adapter={run_dir}", "text=她害怕一个人在家过夜。"]
    command += [f"output={out}", "max_new_tokens=4", "progress=false"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    header, record = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert header["ecct_predict"]["decoding"] == "constrained" and "decoding: constrained" in done.stderr
    assert record["id"] == "text" and record["text"] == "她害怕一个人在家过夜。" and "gold" not in record
    assert {"output", "triplets", "violations"} <= set(record)
    assert not (tmp_path / "outputs").exists() and not (tmp_path / ".hydra").exists()
    missing = subprocess.run(
        [sys.executable, "-m", "ecct.predict", f"adapter={tmp_path / 'nope'}", "text=x"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "no such directory" in missing.stderr


# ---- inputs users bring (issue 18) ---------------------------------------------------------------------------


def test_plain_text_lines_end_at_newlines_only(tmp_path):
    # str.splitlines() also cut at U+2028, form feed and U+0085, and line-N stopped matching the file's lines.
    path = tmp_path / "notes.txt"
    path.write_bytes("one\u2028two\r\nthree\x0cfour\n\nfive\x85six\n".encode())
    read = read_inputs(path=path)
    assert [(d.id, d.text) for d in read.documents] == [
        ("line-1", "one\u2028two"),
        ("line-2", "three\x0cfour"),
        ("line-4", "five\x85six"),
    ]


def test_json_inputs_are_recognised_by_content(tmp_path):
    conversation = {
        "conversation_ID": 7,
        "conversation": [
            {"utterance_ID": 1, "text": "I got the job !", "speaker": "Ross", "emotion": "joy"},
            {"utterance_ID": 2, "text": "Great .", "speaker": "Rachel", "emotion": "neutral"},
        ],
    }
    ecf = tmp_path / "Subtask_1_test.json"  # an ECF 2.0 test-style file (no labels): one document per conversation
    ecf.write_text(json.dumps([conversation, {**conversation, "conversation_ID": 8}], indent=2), encoding="utf-8")
    read = read_inputs(path=ecf)
    assert [d.id for d in read.documents] == ["7", "8"] and read.kind == "ECF 2.0 conversations"
    assert read.documents[0].text.startswith("Ross: I got the job !")
    records = tmp_path / "docs.txt"  # a JSON list of records, whatever the file is called
    records.write_text(json.dumps([{"id": "a", "text": "I was afraid."}, {"text": "我很高兴。"}]), encoding="utf-8")
    assert [d.id for d in read_inputs(path=records).documents] == ["a", "record-1"]
    other = tmp_path / "other.json"
    other.write_text('{"data": [1, 2]}', encoding="utf-8")
    with pytest.raises(PredictError, match=r"(?s)not a kind ecct.predict reads.*JSON Lines.*ECF 2.0.*plain text"):
        read_inputs(path=other)


def test_a_jsonl_input_may_start_with_a_bom(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"id": "a", "text": "I was afraid."}\n')
    assert [d.id for d in read_inputs(path=path).documents] == ["a"]


def test_documents_that_cannot_be_encoded_are_rejected_with_the_reason(tmp_path):
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "bad \\ud800 text"}\n', encoding="utf-8")
    read = read_inputs(path=jsonl)
    assert [d.id for d in read.documents] == ["a"] and read.order == ["a", "b"]
    ((doc_id, reason),) = [(r.id, r.reason) for r in read.rejected]
    assert doc_id == "b" and "lone surrogate U+D800" in reason
    text = tmp_path / "docs.txt"
    text.write_bytes(b"fine\nbad \xff byte\nalso fine\n")
    read = read_inputs(path=text)
    assert [d.id for d in read.documents] == ["line-1", "line-3"]
    assert [(r.id, r.reason) for r in read.rejected] == [
        ("line-2", "not valid UTF-8: byte 0xff at line 2, byte 5 (invalid start byte)")
    ]
    with pytest.raises(PredictError, match=r"byte 0xff at line 2"):
        read_inputs(path=text, text_file_mode="whole")


def predict_config(run_dir: Path, **values) -> OmegaConf:
    cfg = OmegaConf.load(REPO / "conf" / "predict.yaml")
    cfg.adapter, cfg.progress, cfg.max_new_tokens = str(run_dir), False, 4
    for key, value in values.items():
        cfg[key] = value
    return cfg


def test_predict_writes_each_batch_and_resumes_a_stopped_run(tmp_path, tokenizer, monkeypatch):
    import ecct.decoding.generate as generation

    run_dir = make_run(tmp_path, tokenizer)
    docs = tmp_path / "docs.txt"
    docs.write_bytes(b"I was afraid.\nHe was glad.\n\xff\nShe cried.\nThey laughed.\nWe won.\n")
    out = tmp_path / "preds.jsonl"
    cfg = predict_config(run_dir, input=str(docs), output=str(out), batch_size=2)
    real, prompts_seen = generation.generate, []

    def stopped_after_one_batch(*args, on_batch, **kwargs):
        def once(indices, outputs):
            on_batch(indices, outputs)
            raise KeyboardInterrupt  # the process is stopped while the second batch decodes

        return real(*args, on_batch=once, **kwargs)

    monkeypatch.setattr(generation, "generate", stopped_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        predict(cfg)
    header, *partial = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert header["ecct_predict"]["decoding"] == "constrained"
    assert partial[0] == {
        "id": "line-3",
        "skipped": "not valid UTF-8: byte 0xff at line 3, byte 1 (invalid start byte)",
    }
    assert len(partial) == 3  # the skipped line, then the first batch of two, written before the stop
    first_batch = {record["id"] for record in partial[1:]}
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "line-')  # cut while being written: dropped, that document predicted again

    def counting(model, tokenizer, prompts, *args, **kwargs):
        prompts_seen.append(len(prompts))
        return real(model, tokenizer, prompts, *args, **kwargs)

    monkeypatch.setattr(generation, "generate", counting)
    result = predict(cfg)
    assert prompts_seen == [3] and (result.predicted, result.resumed) == (3, 2)
    assert result.skipped == [("line-3", partial[0]["skipped"])]
    assert "1 skipped" in result.summary(str(out)) and "line-3: not valid UTF-8" in result.summary(str(out))
    header, *records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records] == ["line-1", "line-2", "line-3", "line-4", "line-5", "line-6"]  # input order
    assert {r["id"] for r in records if r["id"] in first_batch} == first_batch
    assert predict(cfg).predicted == 0  # all done: nothing is predicted again
    with pytest.raises(PredictError, match=r"decoding='constrained', this run has decoding='unconstrained'"):
        predict(predict_config(run_dir, input=str(docs), output=str(out), constrained=False))
    with pytest.raises(PredictError, match="is a folder"):
        predict(predict_config(run_dir, input=str(docs), output=str(tmp_path)))


def test_cause_clauses_are_recorded_and_guard_resuming(tmp_path, tokenizer):
    run_dir = make_run(tmp_path, tokenizer)
    docs = tmp_path / "docs.txt"
    docs.write_text("我很害怕，因为下雨了。\n他很高兴，考试通过了。\n", encoding="utf-8")
    out = tmp_path / "preds.jsonl"
    result = predict(predict_config(run_dir, input=str(docs), output=str(out), cause_clauses=[-1, 0]))
    assert result.header["cause_clauses"] == [-1, 0] and result.predicted == 2
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["ecct_predict"]["cause_clauses"] == [-1, 0]
    with pytest.raises(PredictError, match=r"cause_clauses=\[-1, 0\], this run has cause_clauses=None"):
        predict(predict_config(run_dir, input=str(docs), output=str(out)))
    with pytest.raises(PredictError, match="needs constrained"):
        predict(predict_config(run_dir, input=str(docs), constrained=False, cause_clauses=[-1, 0]))


def test_cause_outside_emotion_is_recorded_and_guards_resuming(tmp_path, tokenizer):
    run_dir = make_run(tmp_path, tokenizer)
    docs = tmp_path / "docs.txt"
    docs.write_text("我很害怕，因为下雨了。\n", encoding="utf-8")
    out = tmp_path / "preds.jsonl"
    result = predict(predict_config(run_dir, input=str(docs), output=str(out), cause_outside_emotion=True))
    assert result.header["cause_outside_emotion"] is True and result.predicted == 1
    with pytest.raises(PredictError, match=r"cause_outside_emotion=True, this run has cause_outside_emotion=False"):
        predict(predict_config(run_dir, input=str(docs), output=str(out)))
    # A file written before the key existed reads as off.
    lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    del header["ecct_predict"]["cause_outside_emotion"]
    out.write_text("\n".join([json.dumps(header, ensure_ascii=False), *lines[1:]]) + "\n", encoding="utf-8")
    with pytest.raises(PredictError, match=r"cause_outside_emotion=False, this run has cause_outside_emotion=True"):
        predict(predict_config(run_dir, input=str(docs), output=str(out), cause_outside_emotion=True))
    with pytest.raises(PredictError, match="needs constrained"):
        predict(predict_config(run_dir, input=str(docs), constrained=False, cause_outside_emotion=True))


@pytest.mark.parametrize("key", ["lenient", "constrained", "resume", "progress", "prefix_cache", "load_in_4bit"])
def test_predict_switches_must_be_true_or_false(key, tmp_path):
    with pytest.raises(PredictError, match=rf"^{key}='no': expected true or false"):  # checked before anything loads
        predict(predict_config(tmp_path, text="I was afraid.", **{key: "no"}))  # bool("no") would be True


def test_command_line_survives_a_document_it_cannot_encode(tmp_path, tokenizer):
    run_dir = make_run(tmp_path, tokenizer)
    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "I was afraid."}\n{"id": "b", "text": "\\ud800"}\n', encoding="utf-8")
    out = tmp_path / "preds.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "ecct.predict", f"adapter={run_dir}", f"input={docs}", f"output={out}"]
    command += ["max_new_tokens=4", "progress=false", "lenient=true"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    header, first, second = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert header["ecct_predict"]["decoding"] == "constrained"  # the default
    assert first["id"] == "a" and "output" in first
    assert second["id"] == "b" and "lone surrogate U+D800" in second["skipped"]
    assert "1 predicted" in done.stderr and "1 skipped" in done.stderr and "skipped b: text cannot be" in done.stderr


def test_help_lists_only_what_predict_reads():
    done = subprocess.run([sys.executable, "-m", "ecct.predict", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "constrained: true" in done.stdout and "resume: true" in done.stdout
    for group in ("baseline", "augment", "trainer", "experiment"):
        assert group not in done.stdout
