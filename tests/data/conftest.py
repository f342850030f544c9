"""Prepared arms of the tiny world, built once per session and shared (read-only)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from safereflect.config import set_dotted, validate


def records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in sorted(directory.glob("*.jsonl")) for line in f.open(encoding="utf-8")]


def world_docs(world: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in records(world / "corpus")}


def make_config(world: Path, out: Path, arm: str, **overrides: Any):
    from safereflect.data import PrepareConfig

    data: dict[str, Any] = {"arm": arm, "input": {"path": str(world)}, "out": str(out), "tasks": 2,
                            "shards": {"val_fraction": 0.1}}
    for key, value in overrides.items():
        set_dotted(data, key.replace("__", "."), value)
    return validate(PrepareConfig, data)


@pytest.fixture(scope="session")
def shared_tokenizer(tiny_world_dir, tmp_path_factory) -> Path:
    """One tokenizer for every arm, as an experiment shares one (trained by a raw prepare)."""
    from safereflect.data import run_prepare

    out = run_prepare(make_config(tiny_world_dir, tmp_path_factory.mktemp("raw"), "raw"))
    return out / "tokens" / "tokenizer"


@pytest.fixture(scope="session")
def prepared(tiny_world_dir, shared_tokenizer, tmp_path_factory):
    """prepared(arm, **dotted_overrides) -> output directory, cached per arguments."""
    from safereflect.data import run_prepare

    cache: dict[str, Path] = {}

    def run(arm: str, **overrides: Any) -> Path:
        key = json.dumps([arm, overrides], sort_keys=True)
        if key not in cache:
            out = tmp_path_factory.mktemp(arm.replace("+", "_"))
            overrides.setdefault("tokenizer__path", str(shared_tokenizer))
            cache[key] = run_prepare(make_config(tiny_world_dir, out, arm, **overrides))
        return cache[key]

    return run


class ChatServer(BaseHTTPRequestHandler):
    """A small OpenAI-compatible endpoint: a guard that flags "poison", and a writer that
    answers the intervention prompts. Class attributes script failures and record requests."""

    requests: ClassVar[list[dict]] = []
    fail_first = 0
    down_for: str | None = None  # answer 500 to every text containing this

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"body": body, "auth": self.headers.get("Authorization")})
        text = body["messages"][-1]["content"]
        if type(self).fail_first > 0 or (type(self).down_for and type(self).down_for in text):
            type(self).fail_first = max(0, type(self).fail_first - 1)
            self.send_response(500)
            self.end_headers()
            return
        if "\n\nText:\n" in text:  # an intervention prompt: answer with a safe text naming the task
            answer = f"SAFE FORM ({text.split('.')[0]})"
        else:
            answer = "Safety: Unsafe\nCategories: Violent" if "poison" in text else "Safety: Safe\nCategories: None"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    """URL of a ChatServer on 127.0.0.1, fresh for each test."""
    ChatServer.requests, ChatServer.fail_first, ChatServer.down_for = [], 0, None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
