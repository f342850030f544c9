"""A small client for OpenAI-compatible chat endpoints (vLLM, SGLang, TGI, hosted APIs).

Used by the `llm` scorer (a guard model such as Qwen3Guard) and the LLM rewriters. Requests
run concurrently up to a limit, failures that may pass (connection errors, 429, 5xx) are
retried with exponential backoff, and every answer is cached on disk keyed by a hash of the
model and the prompt, so a relaunch or a second arm never pays for the same call twice.
The API key is read from the environment variable the config names, at request time; it is
never part of a config, a cache key, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field

from safereflect.config import StrictModel
from safereflect.errors import UserError
from safereflect.jsonl import atomic_path

RETRYABLE = {408, 409, 425, 429, 500, 502, 503, 504}
Messages = list[dict[str, str]]


def default_cache_dir() -> Path:
    return Path(os.environ.get("SAFEREFLECT_CACHE", Path.home() / ".cache" / "safereflect")) / "llm"


class ChatConfig(StrictModel):
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible API root (ends in /v1)")
    model: str = Field(..., description="model name the server knows, e.g. Qwen/Qwen3Guard-Gen-4B")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="environment variable holding the API key, if any")
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    max_retries: int = Field(5, ge=0)
    backoff_s: float = Field(1.0, gt=0, description="first retry delay; doubles on each retry")
    timeout_s: float = Field(120.0, gt=0)
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(1024, ge=1)
    cache_dir: Path | None = Field(None, description="response cache; default $SAFEREFLECT_CACHE/llm or ~/.cache/safereflect/llm")


class ChatClient:
    """Chat completions with a concurrency limit, retries and an on-disk response cache."""

    def __init__(self, cfg: ChatConfig):
        self.cfg = cfg
        self.cache_dir = cfg.cache_dir or default_cache_dir()

    def __getstate__(self) -> dict[str, Any]:
        # pipeline steps are pickled to worker processes; connections are opened there
        return {"cfg": self.cfg, "cache_dir": self.cache_dir}

    @cached_property
    def _http(self):
        import httpx

        return httpx.Client(timeout=self.cfg.timeout_s)

    def _key(self, messages: Messages) -> str:
        blob = json.dumps(
            {"model": self.cfg.model, "messages": messages, "temperature": self.cfg.temperature,
             "max_tokens": self.cfg.max_tokens},
            sort_keys=True, ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def complete_many(self, prompts: list[Messages]) -> list[str]:
        if len(prompts) <= 1 or self.cfg.concurrency == 1:
            return [self.complete(p) for p in prompts]
        with ThreadPoolExecutor(min(self.cfg.concurrency, len(prompts))) as pool:
            return list(pool.map(self.complete, prompts))

    def complete(self, messages: Messages) -> str:
        key = self._key(messages)
        path = self.cache_dir / key[:2] / f"{key}.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))["content"]
        content = self._request(messages)
        with atomic_path(path) as fh:
            json.dump({"model": self.cfg.model, "content": content}, fh, ensure_ascii=False)
        return content

    def _request(self, messages: Messages) -> str:
        import httpx

        url = self.cfg.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json"}
        if self.cfg.api_key_env and (api_key := os.environ.get(self.cfg.api_key_env)):
            headers["Authorization"] = f"Bearer {api_key}"
        body = {"model": self.cfg.model, "messages": messages, "temperature": self.cfg.temperature,
                "max_tokens": self.cfg.max_tokens}
        problem = ""
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                time.sleep(self.cfg.backoff_s * 2 ** (attempt - 1))
            try:
                resp = self._http.post(url, json=body, headers=headers)
            except httpx.TransportError as err:
                problem = f"{type(err).__name__}: {err}"
                continue
            if resp.status_code in RETRYABLE:
                problem = f"HTTP {resp.status_code}"
                continue
            if resp.status_code != 200:
                raise UserError(f"chat endpoint {url} answered HTTP {resp.status_code}: {resp.text[:300]}")
            try:
                return resp.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise UserError(f"chat endpoint {url} sent a response that is not a chat completion: "
                                f"{resp.text[:300]}") from None
        raise UserError(f"chat endpoint {url} failed {self.cfg.max_retries + 1} times (last: {problem})",
                        hint="check that the server is up; finished calls are cached, so rerunning resumes")
