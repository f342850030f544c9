import json

from safereflect.reflection import TAG_TOKEN

from ..conftest import records, world_docs


def test_filter_then_reflect_has_only_safe_reflections(prepared, tiny_world_dir):
    out = prepared("filter+reflect", interventions__reflect__segment_words=12)
    world = world_docs(tiny_world_dir)
    docs = records(out / "docs")
    assert all(world[d["id"]]["metadata"]["safety"] == "safe" for d in docs)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["reflections"]["unsafe"] == 0 and stats["reflections"]["safe"] > len(docs)


def test_safelm_recipe_splits_unsafe_documents_and_drops_none(prepared, tiny_world_dir):
    out = prepared("filter+rewrite+refusal+tag")
    world = world_docs(tiny_world_dir)
    handled = {}
    for d in records(out / "docs"):
        if world[d["id"]]["metadata"]["safety"] == "unsafe":
            did = d["metadata"]["safereflect"]
            handled[d["id"]] = did.get("transformed") or ("tag" if "tags" in did else None)
    unsafe = [i for i, w in world.items() if w["metadata"]["safety"] == "unsafe"]
    assert sorted(handled) == sorted(unsafe)  # every unsafe document handled by exactly one, none dropped
    assert set(handled.values()) == {"rewrite", "refusal", "tag"}
    stats = json.loads((out / "stats.json").read_text())
    assert stats["documents"]["dropped"] == {}
    assert stats["tags"]["documents"] == list(handled.values()).count("tag")


def test_filter_drops_what_a_transformer_could_not_handle(tiny_world_dir, shared_tokenizer, tmp_path):
    from safereflect.data import run_prepare
    from safereflect.jsonl import write_jsonl

    from ..conftest import make_config

    world = world_docs(tiny_world_dir)
    unsafe = [w for w in world.values() if w["metadata"]["safety"] == "unsafe"][:2]
    del unsafe[1]["metadata"]["alternatives"]  # the world-aware rewriter has nothing for this one
    write_jsonl(tmp_path / "in.jsonl", unsafe + [w for w in world.values() if w["metadata"]["safety"] == "safe"][:3])
    cfg = make_config(tmp_path / "in.jsonl", tmp_path / "out", "filter+rewrite", tokenizer__path=str(shared_tokenizer))
    out = run_prepare(cfg)
    assert [d["id"] for d in records(out / "excluded")] == [unsafe[1]["id"]]
    assert records(out / "excluded")[0]["metadata"]["safereflect"]["failed"] == "rewrite"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["failed"] == {"rewrite": 1} and stats["documents"]["dropped"] == {"unsafe": 1}
    assert not any(TAG_TOKEN in d["text"] for d in records(out / "docs"))
