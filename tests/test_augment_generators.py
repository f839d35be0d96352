"""Generators: batched sampling with a local (tiny random) model, and an OpenAI-compatible endpoint served by a
small HTTP server on 127.0.0.1 that answers with the tiny model's generations (and fails on demand)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from ecct.augment.generation import GenerationError, GenerationRequest, SamplingConfig, build_generator, generator_id
from ecct.augment.local_generator import LocalGenerator
from ecct.augment.openai_generator import OpenAIChatGenerator
from ecct.data.paths import REPO_ROOT

TINY = OmegaConf.to_container(OmegaConf.load(REPO_ROOT / "conf" / "model" / "tiny.yaml"))
SAMPLING = SamplingConfig(temperature=1.0, top_p=0.95, max_new_tokens=12, length_factor=None, seed=3)


def requests(n_sources: int = 3, samples: int = 2) -> list[GenerationRequest]:
    return [
        GenerationRequest(f"doc{i}", k, [{"role": "user", "content": f"改写：他很[Emotion 1]{{高兴}} {i}"}], "x")
        for i in range(n_sources)
        for k in range(samples)
    ]


@pytest.fixture(scope="module")
def tiny_generator() -> LocalGenerator:
    return build_generator({"type": "local", "model": TINY, "batch_size": 2}, SAMPLING)  # type: ignore[return-value]


def collect(generator, reqs) -> dict[tuple[str, int], str]:
    results: dict[tuple[str, int], str] = {}

    def store(request: GenerationRequest, text: str) -> None:
        assert (request.source_id, request.sample) not in results
        results[(request.source_id, request.sample)] = text

    stats = generator.generate(reqs, store, progress=False)
    assert stats.completed == len(results)
    return results


def test_local_generator_samples_every_request_reproducibly(tiny_generator: LocalGenerator) -> None:
    reqs = requests()
    first = collect(tiny_generator, reqs)
    assert set(first) == {(r.source_id, r.sample) for r in reqs}
    assert all(isinstance(text, str) for text in first.values())
    assert first == collect(tiny_generator, reqs)  # batches are seeded from the sampling seed
    assert len(set(first.values())) > 1  # sampling, not greedy: the two samples of a source differ somewhere
    assert tiny_generator.id == generator_id({"type": "local", "model": TINY}) == "tiny-h64-l2"


def test_local_generator_output_budget_follows_the_source_length(tiny_generator: LocalGenerator) -> None:
    capped = SamplingConfig(max_new_tokens=100, length_factor=1.5)
    generator = LocalGenerator(tiny_generator.model, tiny_generator.tokenizer, capped, 2, "tiny")
    n_tokens = len(generator.tokenizer("他很高兴地回家了", add_special_tokens=False)["input_ids"])
    assert generator._budget(["他很高兴地回家了"]) == min(100, -(-3 * n_tokens // 2) + 8)
    assert generator._budget(["长" * 1000]) == 100


def test_stop_strings_cut_the_output_and_are_validated() -> None:
    sampling = SamplingConfig.from_config({"stop_strings": ["\n原文：", "\nText:"]}, seed=1)
    assert sampling.stop_strings == ("\n原文：", "\nText:")
    assert sampling.cut_at_stop("改写后的短文。\n原文：又一段\nText: x") == "改写后的短文。"
    # A header opening the answer is dropped, not taken for the end of the sample.
    assert sampling.cut_at_stop("原文：\n改写后的短文。\n原文：又一段") == "改写后的短文。"
    assert sampling.cut_at_stop("no stop here ") == "no stop here"
    bare = SamplingConfig.from_config({"stop_strings": ["\n原文"]}, seed=1)
    assert bare.cut_at_stop("原文：改写后的短文。\n原文(2):又一段") == "改写后的短文。"  # header's colon goes too
    assert "stop_strings" in sampling.as_key() and "stop_strings" not in SAMPLING.as_key()
    with pytest.raises(ValueError, match="stop_strings"):
        SamplingConfig(stop_strings=("",))


def test_local_generator_ends_the_sample_at_a_stop_string(tiny_generator: LocalGenerator) -> None:
    request = requests(1, 1)
    longer = SamplingConfig(temperature=1.0, top_p=0.95, max_new_tokens=24, length_factor=None, seed=3)
    free = collect(LocalGenerator(tiny_generator.model, tiny_generator.tokenizer, longer, 1, "t"), request)
    text = next(iter(free.values()))
    stop = text[len(text) // 2 : len(text) // 2 + 2]  # two characters the unconstrained sample produced
    assert stop.strip(), f"need a visible stop string, the sample was {text!r}"
    stopped_sampling = SamplingConfig(**{**longer.__dict__, "stop_strings": (stop,)})
    stopped = LocalGenerator(tiny_generator.model, tiny_generator.tokenizer, stopped_sampling, 1, "t")
    # Same seed, so the same tokens until the stop string appears; the output is what came before it.
    assert next(iter(collect(stopped, request).values())) == text.split(stop, 1)[0].strip()


class ChatServer:
    """An OpenAI-style /v1/chat/completions endpoint on an ephemeral port, backed by the tiny model."""

    def __init__(self, model: LocalGenerator, fail_first: int = 0, status: int = 503):
        self.model = model
        self.fail_first = fail_first
        self.status = status
        self.hits = 0
        self.bodies: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.hits += 1
                    server.bodies.append(body)
                    failing = server.hits <= server.fail_first
                if self.path != "/v1/chat/completions" or failing:
                    self.send_response(404 if not failing else server.status)
                    self.end_headers()
                    return
                request = GenerationRequest("s", 0, body["messages"], "")
                texts: list[str] = []
                with server.lock:  # one model, one generation at a time
                    server.model.generate([request], lambda _r, t: texts.append(t), progress=False)
                payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": texts[0]}}]})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def http_generator(url: str, **kwargs) -> OpenAIChatGenerator:
    options = {"max_retries": 3, "backoff_s": 0.01, "concurrency": 3, "timeout_s": 30, **kwargs}
    return OpenAIChatGenerator(url, "tiny-served", SAMPLING, **options)


@pytest.fixture()
def server(tiny_generator: LocalGenerator) -> Iterator[ChatServer]:
    with ChatServer(tiny_generator) as running:
        yield running


def test_openai_generator_gets_every_sample_from_the_server(server: ChatServer) -> None:
    reqs = requests(3, 2)
    results = collect(http_generator(server.url, api_key="k"), reqs)
    assert set(results) == {(r.source_id, r.sample) for r in reqs}
    assert server.hits == len(reqs)
    body = server.bodies[0]
    assert body["model"] == "tiny-served" and body["max_tokens"] == 12 and body["temperature"] == 1.0
    assert len({b["seed"] for b in server.bodies}) == len(reqs)  # one seed per (source, sample)
    assert "stop" not in body  # sent only when stop strings are configured


def test_transient_failures_are_retried_with_backoff(tiny_generator: LocalGenerator) -> None:
    with ChatServer(tiny_generator, fail_first=2) as flaky:
        generator = http_generator(flaky.url, concurrency=1)
        results = collect(generator, requests(2, 1))
    assert len(results) == 2
    assert generator.attempts == flaky.hits == 4  # two 503s, then two successes


def test_a_request_that_keeps_failing_is_counted_not_stored(tiny_generator: LocalGenerator) -> None:
    with ChatServer(tiny_generator, fail_first=10**6, status=500) as broken:
        generator = http_generator(broken.url, max_retries=2, concurrency=2)
        results: list[str] = []
        stats = generator.generate(requests(2, 1), lambda _r, t: results.append(t), progress=False)
    assert results == [] and stats.completed == 0
    assert stats.failed == {"gave up after 3 attempts": 2} and broken.hits == 6


def test_a_rejected_key_stops_the_run_with_a_clear_error(tiny_generator: LocalGenerator) -> None:
    with (
        ChatServer(tiny_generator, fail_first=10**6, status=401) as locked,
        pytest.raises(GenerationError, match="api_key"),
    ):
        http_generator(locked.url).generate(requests(1, 1), lambda _r, _t: None, progress=False)


def test_unreachable_server_is_a_counted_failure() -> None:
    generator = OpenAIChatGenerator("http://127.0.0.1:9/v1", "m", SAMPLING, max_retries=1, backoff_s=0.01)
    stats = generator.generate(requests(1, 1), lambda _r, _t: None, progress=False)
    assert sum(stats.failed.values()) == 1 and generator.attempts == 2


def test_the_pipeline_fills_its_cache_through_the_http_generator(
    server: ChatServer, tmp_path: Path, monkeypatch
) -> None:
    from ecct.augment.pipeline import augment_training_set
    from ecct.data.corpus import load_corpus

    monkeypatch.setenv("TEST_AUG_KEY", "secret")
    corpus = load_corpus(OmegaConf.load(REPO_ROOT / "conf" / "data" / "demo.yaml"))
    train = corpus.part("train")[:4]
    augment = OmegaConf.load(REPO_ROOT / "conf" / "augment" / "openai.yaml")
    augment.generator.base_url = server.url
    augment.generator.model = "tiny-served"
    augment.generator.api_key_env = "TEST_AUG_KEY"
    augment.sampling.max_new_tokens = 12
    augment.cache_dir = str(tmp_path)
    augment.max_rounds = 1
    cfg = OmegaConf.create({"data": {"name": "demo"}, "augment": augment})
    docs, report = augment_training_set(train, cfg, corpus.split.name, progress=False)
    eligible = report["augment/sources_eligible"]
    assert report["augment/generated"] == report["augment/generated_this_run"] == eligible == server.hits
    # 12 random tokens never copy the markers: nothing is accepted, and the shortfall is reported, not hidden.
    assert report["augment/accepted"] == 0 and report["augment/shortfall"] == report["augment/requested"] == 2
    assert len(docs) == len(train)
    assert report["augment/generator"] == "tiny-served"


def test_openai_generator_sends_stop_strings(server: ChatServer) -> None:
    sampling = SamplingConfig(**{**SAMPLING.__dict__, "stop_strings": ("原文：",)})
    generator = OpenAIChatGenerator(server.url, "tiny-served", sampling, max_retries=0, timeout_s=30)
    results = collect(generator, requests(1, 1))
    assert server.bodies[0]["stop"] == ["原文："]
    assert all("原文：" not in text for text in results.values())
