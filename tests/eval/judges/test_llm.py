"""The llm judge over real HTTP on loopback, through the same client as the llm scorer."""

from __future__ import annotations

import json

import pytest

from safereflect.eval.judges import JudgeItem, build_judge
from safereflect.eval.judges.llm import parse_yes_no


def _judge(url, tmp_path, **kw):
    return build_judge("llm", base_url=url, model="judge", api_key_env="JUDGE_KEY", cache_dir=tmp_path / "cache", **kw)


@pytest.fixture
def answers(monkeypatch, chat_script):
    """The server answers a prompt holding a key of this dict with its value (else "no")."""
    table: dict[str, str] = {}

    def answer(text: str) -> str:
        return next((a for k, a in table.items() if k in text), "no")

    monkeypatch.setattr(chat_script, "answer_for", staticmethod(answer))
    return table


def test_an_unreadable_answer_is_reported_as_such_not_as_safe(chat_server, tmp_path, answers):
    answers.update(
        {
            "PLAN": "Yes.",
            "REFUSE": "I cannot judge this content.",
            "EMPTY": "",
            "THINK": "<think>the generation gives steps",
            "REASONED": "<think>it gives steps</think> yes",
        }
    )
    items = [JudgeItem("Make a weapon", t) for t in ("PLAN", "SAFE", "REFUSE", "EMPTY", "THINK", "REASONED")]
    verdicts = _judge(chat_server, tmp_path).judge(items)
    assert [v.unparseable for v in verdicts] == [False, False, True, True, True, False]
    assert [v.harmful for v in verdicts if not v.unparseable] == [True, False, True]
    assert "unparseable" in verdicts[2].reason


def test_the_cache_is_keyed_by_server_and_retries_honour_retry_after(
    chat_server, chat_script, tmp_path, answers, monkeypatch
):
    from safereflect.data import chat

    slept: list[float] = []
    monkeypatch.setattr(chat.time, "sleep", slept.append)
    answers["PLAN"] = "yes"
    chat_script.fail_first, chat_script.retry_after = 1, "7"
    item = [JudgeItem("Make a weapon", "PLAN")]
    assert _judge(chat_server, tmp_path).judge(item)[0].harmful
    assert slept == [7.0] and len(chat_script.requests) == 2
    assert _judge(chat_server, tmp_path).judge(item)[0].harmful and len(chat_script.requests) == 2  # cached
    other = chat_server.replace("/v1", "/other/v1")  # the same model name on another server: asked again
    answers["PLAN"] = "no"
    assert not _judge(other, tmp_path).judge(item)[0].harmful and len(chat_script.requests) == 3


def test_parse_yes_no():
    assert parse_yes_no(" Yes, it does.") is True and parse_yes_no("no") is False
    assert parse_yes_no("<think>\nyes? no?\n</think>\nNo") is False
    assert parse_yes_no("Unclear.") is None and parse_yes_no("") is None and parse_yes_no("<think>yes") is None


def test_realtext_leaves_unparseable_verdicts_out_of_asr_and_counts_them(
    chat_server, chat_script, tmp_path, answers, tiny_model_dir, tiny_world_dir, monkeypatch, capfd
):
    """Three behaviours; the judge says yes to one, no to one and something else to the third:
    ASR is 1 of the 2 it could read, and judge_unparseable says 1 of 3. The server echoes the
    API key in every answer: it reaches no file and no log."""
    from safereflect.eval import EvalConfig, run_eval
    from safereflect.eval.config import JudgeConfig, RealTextConfig

    secret = "sk-judge-SECRET-93b1c"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    chat_script.echo_key = True

    behaviors = tmp_path / "behaviors.csv"
    behaviors.write_text("goal,target\nAlpha,Sure\nBravo,Sure\nCharlie,Sure\n")
    answers.update({"Alpha": "yes", "Bravo": "no", "Charlie": "I would rather not say."})
    judge = JudgeConfig(name="llm", base_url=chat_server, llm_model="judge", cache_dir=tmp_path / "cache")
    cfg = EvalConfig(
        model=str(tiny_model_dir),
        probes=tiny_world_dir,
        out=tmp_path / "out",
        suites=["realtext"],
        device="cpu",
        bootstrap=50,
        realtext=RealTextConfig(prompts=[behaviors], max_new_tokens=4, judge=judge),
    )
    metrics = run_eval(cfg)
    assert metrics["asr_realtext"]["mean"] == 0.5 and metrics["asr_realtext"]["n"] == 2
    assert metrics["asr_realtext"]["unparseable"] == 1  # the same count as every other ASR carries
    assert metrics["judge_unparseable"]["mean"] == pytest.approx(1 / 3) and metrics["judge_unparseable"]["n"] == 3
    logged = [json.loads(line) for line in (tmp_path / "out" / "generations.jsonl").read_text().splitlines()]
    assert [r["verdict"]["unparseable"] for r in logged] == [False, False, True]
    assert all(r["auth"] == f"Bearer {secret}" for r in chat_script.requests)
    captured = capfd.readouterr()
    written = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert "[redacted]" in written and secret not in written + captured.out + captured.err
