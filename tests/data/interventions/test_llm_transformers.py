"""Rewrite and refusal on real text: an LLM behind an OpenAI-compatible endpoint writes the
safe forms; labels come from the keyword scorer."""

import json

from safereflect.data import run_prepare
from safereflect.jsonl import write_jsonl

from ..conftest import make_config, records

TEXTS = [
    "How to poison and kill a neighbour.",
    "A recipe for bread.",
    "Poison them, then kill them quietly.",
    "Walking is good for you.",
]


def _run(tmp_path, tokenizer, server, arm, **kw):
    write_jsonl(tmp_path / "in.jsonl", [{"id": f"d{i}", "text": t} for i, t in enumerate(TEXTS)])
    endpoint = {"base_url": server, "model": "writer", "cache_dir": str(tmp_path / "cache"), "backoff_s": 0.01}
    cfg = make_config(
        tmp_path / "in.jsonl",
        tmp_path / arm,
        arm,
        scorer="kw",
        tokenizer__path=str(tokenizer),
        scorers={"kw": {"kind": "keyword", "terms": ["poison", "kill"]}},
        interventions={
            "rewrite": {"mode": "llm", "llm": endpoint, "styles": ["podcast"]},
            "refusal": {"mode": "llm", "llm": endpoint},
        },
        **kw,
    )
    return run_prepare(cfg)


def test_llm_rewrite_in_the_drawn_style(tmp_path, shared_tokenizer, chat_server, chat_script):
    out = _run(tmp_path, shared_tokenizer, chat_server, "rewrite")
    docs = {d["id"]: d for d in records(out / "docs")}
    for i in (0, 2):
        assert docs[f"d{i}"]["text"].startswith(
            "SAFE FORM (Rewrite the following text as the transcript of an educational podcast"
        )
        assert docs[f"d{i}"]["metadata"]["safereflect"]["form"] == "rewrite:podcast"
    assert docs["d1"]["text"] == TEXTS[1]
    prompts = [r["body"]["messages"][0]["content"] for r in chat_script.requests]
    assert len(prompts) == 2 and all(TEXTS[0] in p or TEXTS[2] in p for p in prompts)


def test_llm_refusal_writes_dialogues_or_articles(tmp_path, shared_tokenizer, chat_server, chat_script):
    out = _run(tmp_path, shared_tokenizer, chat_server, "refusal", interventions__refusal__moral_fraction=0.0)
    docs = {d["id"]: d for d in records(out / "docs")}
    assert docs["d0"]["text"].startswith("SAFE FORM (The following text contains a harmful request")
    stats = json.loads((out / "stats.json").read_text())
    assert stats["transformed"] == {"refusal": 2} and stats["labels"]["kw"] == {"Safe": 2, "Unsafe": 2}
