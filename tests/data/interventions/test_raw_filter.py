from ..conftest import records, world_docs


def test_raw_leaves_every_document_unchanged(prepared, tiny_world_dir):
    out = prepared("raw")
    docs, world = records(out / "docs"), world_docs(tiny_world_dir)
    assert len(docs) == len(world)
    assert all(d["text"] == world[d["id"]]["text"] and not d["metadata"]["safereflect"]["changed"] for d in docs)
    assert not list((out / "excluded").glob("*.jsonl"))


def test_filter_drops_exactly_the_unsafe_documents_with_their_reason(prepared, tiny_world_dir):
    out = prepared("filter")
    world = world_docs(tiny_world_dir)
    kept = {d["id"] for d in records(out / "docs")}
    excluded = records(out / "excluded")
    unsafe = {i for i, d in world.items() if d["metadata"]["safety"] == "unsafe"}
    assert {d["id"] for d in excluded} == unsafe and kept == set(world) - unsafe
    assert all(d["metadata"]["excluded_reason"] == "unsafe" and d["text"] == world[d["id"]]["text"] for d in excluded)
