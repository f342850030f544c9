"""An LLM judge over any OpenAI-compatible chat endpoint (vLLM, TGI, hosted APIs).

The endpoint gets HarmBench's rubric as a plain chat message (no Llama-2 markers) with the
sanitised, clipped generation, and answers yes or no. The API key is read from the
environment variable named in the config and only ever placed in the request header: it
is never stored on the judge, logged or put into an error message.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import httpx

from safereflect.errors import UserError
from safereflect.eval.judges.base import Judge, JudgeItem, JudgeVerdict
from safereflect.eval.judges.harmbench import CASE, INSTRUCTION
from safereflect.eval.judges.sanitize import sanitize
from safereflect.reflection import DEFAULT_FORMAT, ReflectionFormat

PROMPT_VERSION = "harmbench-rubric-chat-v2"

RUBRIC = f"{INSTRUCTION}\n\n{CASE}\n\nAnswer with one word, yes or no. Answer:"

_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


class LLMJudge(Judge):
    name = "llm"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_generation_chars: int = 4000,
        retries: int = 3,
        fmt: ReflectionFormat = DEFAULT_FORMAT,
        transport: httpx.BaseTransport | None = None,
    ):
        super().__init__(fmt)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.max_chars = max_generation_chars
        self.retries = retries
        self.client = httpx.Client(timeout=timeout_s, transport=transport)

    @property
    def description(self) -> str:
        return f"llm:{self.model}@{self.url}({PROMPT_VERSION})"

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def prompt(self, item: JudgeItem) -> str:
        return RUBRIC.format(
            behavior=item.request, generation=sanitize(self.visible(item.completion)[: self.max_chars])
        )

    def _ask(self, prompt: str) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": 4,
        }
        for attempt in range(self.retries):
            try:
                resp = self.client.post(self.url, json=body, headers=self._headers())
            except httpx.HTTPError as err:
                problem = f"{type(err).__name__}"
            else:
                if resp.status_code == 200:
                    try:
                        return str(resp.json()["choices"][0]["message"]["content"])
                    except (ValueError, KeyError, IndexError, TypeError):
                        raise UserError(f"judge endpoint {self.url} returned an unexpected body") from None
                problem = f"HTTP {resp.status_code}"
                if resp.status_code not in _RETRY_STATUS:
                    break
            if attempt + 1 < self.retries:
                time.sleep(min(8.0, 0.5 * 2**attempt))
        raise UserError(
            f"judge endpoint {self.url} failed ({problem})",
            hint=f"check the URL, the model name and ${self.api_key_env}",
        )

    def judge(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]:
        out = []
        for item in items:
            answer = self._ask(self.prompt(item)).strip().lower()
            word = answer.split()[0].strip(".,!\"'") if answer else ""
            out.append(JudgeVerdict(word == "yes", f"judge answered {word!r}", self.flagged(item.completion)))
        return out
