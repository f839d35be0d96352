"""Chat completions for augmentation from any OpenAI-compatible server (vLLM, TGI, llama.cpp server, APIs)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm

from ecct.augment.generation import (
    GenerationError,
    GenerationRequest,
    GenerationStats,
    OnResult,
    SamplingConfig,
    derived_seed,
)

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIChatGenerator:
    """Chat completions from any OpenAI-compatible server (vLLM, TGI, llama.cpp server, hosted APIs).

    Each request is retried on timeouts, connection errors and 408/409/425/429/5xx with exponential backoff
    (``backoff_s`` x 2^attempt); at most ``concurrency`` requests are in flight. 401/403 stop the run (the key is
    wrong for every request); other failures are counted per request and left for a later run.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        sampling: SamplingConfig,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        concurrency: int = 8,
        extra_body: Mapping[str, Any] | None = None,
    ):
        if not base_url:
            raise GenerationError(
                "augment.generator.base_url is empty: give the server's URL, e.g. http://host:8000/v1"
            )
        if not model:
            raise GenerationError("augment.generator.model is empty: give the model name the server serves")
        if sampling.constrain_markers:
            raise GenerationError(
                "augment.sampling.constrain_markers works with augment=local only: a chat-completions endpoint "
                "cannot run the marker logits processor; set augment.sampling.constrain_markers=false"
            )
        if concurrency < 1 or max_retries < 0:
            raise ValueError("augment.generator: concurrency must be >= 1 and max_retries >= 0")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.id = model
        self.sampling = sampling
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.concurrency = concurrency
        self.extra_body = dict(extra_body or {})
        self.attempts = 0  # HTTP requests sent, retries included
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], sampling: SamplingConfig) -> OpenAIChatGenerator:
        key_env = cfg.get("api_key_env") or "OPENAI_API_KEY"
        return cls(
            base_url=str(cfg.get("base_url") or ""),
            model=str(cfg.get("model") or ""),
            sampling=sampling,
            api_key=cfg.get("api_key") or os.environ.get(key_env),
            timeout_s=float(cfg.get("timeout_s", 60)),
            max_retries=int(cfg.get("max_retries", 5)),
            backoff_s=float(cfg.get("backoff_s", 1.0)),
            concurrency=int(cfg.get("concurrency", 8)),
            extra_body=cfg.get("extra_body"),
        )

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": request.messages,
            "temperature": self.sampling.temperature,
            "top_p": self.sampling.top_p,
            "max_tokens": self.sampling.max_new_tokens,
            "seed": derived_seed(self.sampling.seed, request.source_id, request.sample),
            **({"stop": list(self.sampling.stop_strings)} if self.sampling.stop_strings else {}),
            **self.extra_body,
        }

    def complete(self, client: Any, request: GenerationRequest) -> str:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.attempts += 1
            try:
                response = client.post(self.url, json=self._payload(request), headers=headers)
            except httpx.TransportError as err:  # timeouts, refused connections, broken streams
                problem = f"{type(err).__name__}: {err}"
                continue
            if response.status_code in (401, 403):
                raise GenerationError(
                    f"{self.url} answered {response.status_code}: set augment.generator.api_key or the environment "
                    f"variable named by augment.generator.api_key_env"
                )
            if response.status_code in RETRY_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            try:
                content = response.json()["choices"][0]["message"]["content"]
            except (ValueError, KeyError, IndexError, TypeError) as err:
                raise RuntimeError(f"malformed response ({err}): {response.text[:200]}") from err
            return self.sampling.cut_at_stop(str(content or ""))
        raise RuntimeError(f"gave up after {self.max_retries + 1} attempts ({problem})")

    def generate(
        self, requests: Sequence[GenerationRequest], on_result: OnResult, progress: bool = True
    ) -> GenerationStats:
        import httpx

        stats = GenerationStats(requested=len(requests))
        bar = tqdm(total=len(requests), desc="augmenting", unit="sample", disable=not progress)
        with httpx.Client(timeout=self.timeout_s) as client, ThreadPoolExecutor(self.concurrency) as pool:
            futures = {pool.submit(self.complete, client, request): request for request in requests}
            try:
                for future in as_completed(futures):
                    request = futures[future]
                    try:
                        text = future.result()
                    except GenerationError:
                        raise
                    except RuntimeError as err:
                        stats.failed[str(err).split(":")[0].split(" (")[0]] += 1
                        log.warning("generation for %s #%d failed: %s", request.source_id, request.sample, err)
                    else:
                        on_result(request, text)  # in this thread only: the cache is written by one writer
                        stats.completed += 1
                    bar.update(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
            finally:
                bar.close()
        return stats
