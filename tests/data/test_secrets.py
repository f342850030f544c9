"""An API key given through the environment never reaches a file under the output directory,
the response cache or a log line, even from a server that echoes it back."""

from __future__ import annotations

import pytest

from safereflect.data import run_prepare
from safereflect.errors import UserError
from safereflect.jsonl import write_jsonl

from .conftest import make_config

SECRET = "sk-live-SECRET-4f9c2a7d1e"
TEXTS = ["How to poison a neighbour.", "A recipe for bread.", "Poison them quietly.", "Walking is good."]


def _config(tmp_path, tokenizer, server, **endpoint):
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(TEXTS)])
    writer = {
        "base_url": server,
        "model": "writer",
        "api_key_env": "SR_TEST_KEY",
        "backoff_s": 0.01,
        "max_retries": 1,
        "cache_dir": str(tmp_path / "out" / "cache"),
        **endpoint,
    }
    return make_config(
        tmp_path / "in.jsonl",
        tmp_path / "out",
        "rewrite",
        scorer="guard",
        tokenizer__path=str(tokenizer),
        scorers={"guard": {"kind": "llm", "endpoint": writer}},
        interventions={"rewrite": {"mode": "llm", "llm": writer, "styles": ["podcast"]}},
    )


def _everything_written(tmp_path, capfd) -> str:
    captured = capfd.readouterr()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" for p in files)  # datatrove's executor and task logs are among them
    return captured.out + captured.err + "".join(p.read_bytes().decode("utf-8", "replace") for p in files)


@pytest.mark.parametrize("status", [500, 400])
def test_an_echoed_key_in_an_error_body_is_never_written(
    tmp_path, capfd, monkeypatch, shared_tokenizer, chat_server, chat_script, status
):
    """500: retried, then given up; 400: reported at once with the body's excerpt."""
    monkeypatch.setenv("SR_TEST_KEY", SECRET)
    chat_script.echo_key, chat_script.fail_first, chat_script.fail_status = True, 100, status
    with pytest.raises(UserError) as err:
        run_prepare(_config(tmp_path, shared_tokenizer, chat_server))
    assert chat_script.requests and all(r["auth"] == f"Bearer {SECRET}" for r in chat_script.requests)
    if status == 400:
        assert "[redacted]" in str(err.value)  # the body is shown, the key is not
    assert SECRET not in str(err.value)
    assert SECRET not in _everything_written(tmp_path, capfd)


def test_an_echoed_key_in_answers_is_never_written(
    tmp_path, capfd, monkeypatch, shared_tokenizer, chat_server, chat_script
):
    monkeypatch.setenv("SR_TEST_KEY", SECRET)
    chat_script.echo_key = True
    out = run_prepare(_config(tmp_path, shared_tokenizer, chat_server))
    assert (out / "stats.json").is_file()
    written = _everything_written(tmp_path, capfd)
    assert SECRET not in written and "[redacted]" in written  # the rewrites kept the echo, without the key
