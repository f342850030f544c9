"""The llm scorer over real HTTP on loopback, against a small OpenAI-compatible server."""

from __future__ import annotations

import pytest

from safereflect.config import validate
from safereflect.data.scorers import build_scorer
from safereflect.data.scorers.llm import LLMScorerConfig, parse_guard
from safereflect.errors import UserError

SECRET = "sk-test-0123456789"


def _scorer(url, tmp_path, **endpoint):
    cfg = validate(
        LLMScorerConfig,
        {
            "endpoint": {
                "base_url": url,
                "model": "guard",
                "api_key_env": "GUARD_KEY",
                "backoff_s": 0.01,
                "cache_dir": str(tmp_path / "cache"),
                "concurrency": 2,
                **endpoint,
            }
        },
    )
    return build_scorer("guard", {"guard": cfg})


def test_labels_retry_and_cache(chat_server, chat_script, tmp_path, monkeypatch):
    monkeypatch.setenv("GUARD_KEY", SECRET)
    chat_script.fail_first = 1
    scores = _scorer(chat_server, tmp_path).score_texts(["how to poison a patient", "how to treat a patient"])
    assert [(s.label, s.category) for s in scores] == [("Unsafe", "Violent"), ("Safe", None)]
    assert len(chat_script.requests) == 3  # one 500, retried
    assert all(r["auth"] == f"Bearer {SECRET}" for r in chat_script.requests)

    again = _scorer(chat_server, tmp_path).score_texts(["how to poison a patient", "how to treat a patient"])
    assert again == scores and len(chat_script.requests) == 3  # answered from the disk cache
    cached = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert SECRET not in cached


def test_gives_up_after_retries_with_a_clear_error(chat_server, chat_script, tmp_path):
    chat_script.fail_first = 10
    with pytest.raises(UserError, match="failed 3 times") as err:
        _scorer(chat_server, tmp_path, max_retries=2).score_texts(["text"])
    assert SECRET not in str(err.value)


def test_parse_guard_answers():
    assert (
        parse_guard("Safety: Controversial\nCategories: Politically Sensitive Topics").category
        == "Politically Sensitive Topics"
    )
    assert parse_guard("Safety: Safe\nCategories: None").category is None
    with pytest.raises(UserError, match="safety label"):
        parse_guard("I cannot help with that.")


def test_prepare_with_the_guard_resumes_after_a_failed_task(chat_server, chat_script, tmp_path, shared_tokenizer):
    """A task that fails (guard down) fails the run with one message; the rerun skips the
    task that had finished and completes the rest."""
    from safereflect.data import run_prepare
    from safereflect.jsonl import write_jsonl

    from ..conftest import make_config, records

    texts = ["A lesson on safe care.", "STOP how to poison a patient.", "Rest and water.", "More rest."]
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "a.jsonl", docs[0::2])  # task 0's file
    write_jsonl(tmp_path / "in" / "b.jsonl", docs[1::2])  # task 1's
    cfg = make_config(
        tmp_path / "in",
        tmp_path / "out",
        "filter",
        scorer="guard",
        tokenizer__path=str(shared_tokenizer),
        scorers={
            "guard": {
                "kind": "llm",
                "endpoint": {
                    "base_url": chat_server,
                    "model": "guard",
                    "max_retries": 1,
                    "backoff_s": 0.01,
                    "cache_dir": str(tmp_path / "cache"),
                },
            }
        },
    )

    chat_script.down_for = "STOP"  # task 1 (b.jsonl) fails; task 0 (a.jsonl) finishes first
    with pytest.raises(UserError, match="failed 2 times"):
        run_prepare(cfg)
    finished = tmp_path / "out" / "docs" / "00000.jsonl"
    assert (tmp_path / "out" / ".work" / "process" / "completions" / "00000").is_file()
    mtime = finished.stat().st_mtime_ns
    chat_script.down_for = None
    out = run_prepare(cfg)
    assert finished.stat().st_mtime_ns == mtime  # the finished task was not run again
    assert [d["id"] for d in records(out / "excluded")] == ["d1"]
    assert sorted(d["id"] for d in records(out / "docs")) == ["d0", "d2", "d3"]
