"""Fixtures shared across the suite: tiny worlds are cheap, so tests build their own."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

# Keep the suite within two cores and off any hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist (`make test`) the workers share the cores: each worker's torch, and the
# processes its tests start, take their share rather than every core (torch's pools spin-wait,
# so more threads than cores slow everyone). Thread counts leave results bit-identical.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, str(max(1, (os.cpu_count() or 1) // _WORKERS)))


def pytest_collection_modifyitems(items):
    """The slow files first: xdist hands out whole files in this order, and a long file started
    last would leave the other workers idle while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def tiny_world_dir(tmp_path_factory) -> Path:
    """A `tiny` MedSafetyWorld (seed 0) written once per test session. Treat as read-only."""
    from safereflect.world import preset_config, write_world

    out = tmp_path_factory.mktemp("world_tiny")
    write_world(preset_config("tiny", 0), out)
    return out


@pytest.fixture(scope="session")
def tiny_world(tiny_world_dir):
    from safereflect.world import load_world

    return load_world(tiny_world_dir)


class ChatServer(BaseHTTPRequestHandler):
    """A small OpenAI-compatible endpoint: a guard that flags "poison", and a writer that
    answers the intervention prompts. Class attributes script failures and record requests."""

    requests: ClassVar[list[dict]] = []
    fail_first = 0
    retry_after: str | None = None  # sent with each scripted failure
    fail_status = 500  # the status of a scripted failure
    echo_key = False  # answers and failures echo the request's Authorization header, as some servers do
    down_for: str | None = None  # answer 500 to every text containing this
    answer_for = None  # a test's own answers: text -> reply

    @classmethod
    def reset(cls) -> None:
        cls.requests, cls.fail_first, cls.down_for, cls.retry_after, cls.echo_key = [], 0, None, None, False
        cls.fail_status = 500
        cls.answer_for = None

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"body": body, "auth": self.headers.get("Authorization")})
        text = body["messages"][-1]["content"]
        if type(self).fail_first > 0 or (type(self).down_for and type(self).down_for in text):
            type(self).fail_first = max(0, type(self).fail_first - 1)
            error = f"server error; request had {self.headers.get('Authorization')}" if type(self).echo_key else ""
            self.send_response(503 if type(self).retry_after else type(self).fail_status)
            if type(self).retry_after:
                self.send_header("Retry-After", type(self).retry_after)
            self.send_header("Content-Length", str(len(error.encode())))
            self.end_headers()
            self.wfile.write(error.encode())
            return
        if type(self).answer_for is not None:
            answer = type(self).answer_for(text)
        elif "\n\nText:\n" in text:  # an intervention prompt: answer with a safe text naming the task
            answer = f"SAFE FORM ({text.split('.')[0]})"
        else:
            answer = "Safety: Unsafe\nCategories: Violent" if "poison" in text else "Safety: Safe\nCategories: None"
        if type(self).echo_key:
            answer += f" (you sent {self.headers.get('Authorization')})"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_script():
    """The ChatServer class, whose attributes script the server and record its requests."""
    return ChatServer


@pytest.fixture
def chat_server():
    """URL of a ChatServer on 127.0.0.1, fresh for each test (data scorers, rewriters, eval judges)."""
    ChatServer.reset()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
