"""The one client for OpenAI-compatible chat endpoints (vLLM, SGLang, TGI, hosted APIs).

Used by the `llm` scorer (a guard model such as Qwen3Guard), the LLM rewriters and the `llm`
judge of `eval`. Requests run concurrently up to a limit, failures that may pass (connection
errors, 429, 5xx) are retried with exponential backoff or after the server's `Retry-After`,
and every answer is cached on disk keyed by a hash of the base URL, the model and the
prompt, so a relaunch or a second arm never pays for the same call twice, and another
server's answers are never reused. The API key is read from the environment variable the
config names, at request time, and sent only in the request header; it is never part of a
config or a cache key, and wherever a server's words are kept or shown (answers, error
bodies) any copy of the key is replaced by `[redacted]` first.
"""

from __future__ import annotations

import email.utils
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
MAX_RETRY_AFTER_S = 300.0  # a longer Retry-After is waited out by rerunning, not by sleeping
REDACTED = "[redacted]"
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
    cache_dir: Path | None = Field(
        None, description="response cache; default $SAFEREFLECT_CACHE/llm or ~/.cache/safereflect/llm"
    )


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when is not None else None


class ChatClient:
    """Chat completions with a concurrency limit, retries and an on-disk response cache."""

    def __init__(self, cfg: ChatConfig, *, transport: Any = None):
        self.cfg = cfg
        self.cache_dir = cfg.cache_dir or default_cache_dir()
        self.transport = transport  # an httpx transport, for tests

    def __getstate__(self) -> dict[str, Any]:
        # pipeline steps are pickled to worker processes; connections are opened there
        return {"cfg": self.cfg, "cache_dir": self.cache_dir, "transport": None}

    @cached_property
    def _http(self):
        import httpx

        return httpx.Client(timeout=self.cfg.timeout_s, transport=self.transport)

    @property
    def url(self) -> str:
        return self.cfg.base_url.rstrip("/") + "/chat/completions"

    def _api_key(self) -> str | None:
        return (os.environ.get(self.cfg.api_key_env) or None) if self.cfg.api_key_env else None

    def redact(self, text: str) -> str:
        """`text` with every copy of the API key replaced (servers may echo the request)."""
        key = self._api_key()
        return text.replace(key, REDACTED) if key and len(key) >= 4 else text

    def _key(self, messages: Messages) -> str:
        blob = json.dumps(
            {
                "base_url": self.cfg.base_url.rstrip("/"),
                "model": self.cfg.model,
                "messages": messages,
                "temperature": self.cfg.temperature,
                "max_tokens": self.cfg.max_tokens,
            },
            sort_keys=True,
            ensure_ascii=False,
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
        content = self.redact(self._request(messages))
        with atomic_path(path) as fh:
            json.dump(
                {"base_url": self.cfg.base_url, "model": self.cfg.model, "content": content}, fh, ensure_ascii=False
            )
        return content

    def _body_excerpt(self, text: str) -> str:
        """At most 200 characters of a server's body for an error message, the key removed."""
        excerpt = self.redact(text)[:200].replace("\n", " ")
        return excerpt + ("..." if len(text) > 200 else "")

    def _request(self, messages: Messages) -> str:
        import httpx

        url = self.url
        headers = {"Content-Type": "application/json"}
        if api_key := self._api_key():
            headers["Authorization"] = f"Bearer {api_key}"
        body = {
            "model": self.cfg.model,
            "messages": messages,
            "temperature": self.cfg.temperature,
            "max_tokens": self.cfg.max_tokens,
        }
        problem, wait = "", None
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                backoff = self.cfg.backoff_s * 2 ** (attempt - 1)
                time.sleep(min(MAX_RETRY_AFTER_S, wait) if wait is not None else backoff)
            try:
                resp = self._http.post(url, json=body, headers=headers)
            except httpx.TransportError as err:
                problem, wait = f"{type(err).__name__}: {self.redact(str(err))}", None
                continue
            if resp.status_code in RETRYABLE:
                problem, wait = f"HTTP {resp.status_code}", retry_after_s(resp.headers.get("Retry-After"))
                continue
            if resp.status_code != 200:
                raise UserError(
                    f"chat endpoint {url} answered HTTP {resp.status_code}: {self._body_excerpt(resp.text)}",
                    hint=self._hint(resp.status_code),
                )
            try:
                return resp.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise UserError(
                    f"chat endpoint {url} sent a response that is not a chat completion: "
                    f"{self._body_excerpt(resp.text)}"
                ) from None
        raise UserError(
            f"chat endpoint {url} failed {self.cfg.max_retries + 1} times (last: {problem})",
            hint="check that the server is up; finished calls are cached, so rerunning resumes",
        )

    def _hint(self, status: int) -> str | None:
        if status in (401, 403):
            return f"check the API key in ${self.cfg.api_key_env}" if self.cfg.api_key_env else "the server wants a key"
        if status == 404:
            return f"check base_url ({self.cfg.base_url}, usually ending in /v1) and the model name {self.cfg.model!r}"
        return None
