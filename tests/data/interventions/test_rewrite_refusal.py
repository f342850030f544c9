from ..conftest import records, world_docs


def test_rewrite_replaces_unsafe_documents_by_the_worlds_rewrite(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    for d in records(prepared("rewrite") / "docs"):
        w = world[d["id"]]
        if w["metadata"]["safety"] == "unsafe":
            assert d["text"] == w["metadata"]["alternatives"]["rewrite"]
            assert d["metadata"]["safereflect"]["transformed"] == "rewrite"
        else:
            assert d["text"] == w["text"]


def test_refusal_makes_refusals_and_moral_articles(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    forms = []
    for d in records(prepared("refusal") / "docs"):
        alts = world[d["id"]]["metadata"].get("alternatives")
        if alts:
            form = d["metadata"]["safereflect"]["form"]
            assert d["text"] == alts[form]
            forms.append(form)
    assert set(forms) == {"refusal", "moral"}  # a seeded mix, about half each
