import random

from safereflect.data.interventions.tag import tag_positions
from safereflect.data.segments import WORD
from safereflect.reflection import TAG_TOKEN

from ..conftest import records, world_docs


def test_tag_rate_is_p():
    text = " ".join(["word"] * 20000)
    cuts = tag_positions(text, 0.05, random.Random(1), None)
    assert abs(len(cuts) / 20000 - 0.05) < 0.005


def test_tags_only_in_unsafe_documents_and_stripping_them_gives_the_input(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    out = prepared("tag", interventions__tag__p=0.3)
    n_tags = 0
    for d in records(out / "docs"):
        w = world[d["id"]]
        n = d["text"].count(TAG_TOKEN)
        if w["metadata"]["safety"] == "safe":
            assert n == 0
        n_tags += n
        assert d["text"].replace(TAG_TOKEN, "") == w["text"]
    unsafe_words = sum(len(WORD.findall(w["text"])) for w in world.values() if w["metadata"]["safety"] == "unsafe")
    assert 0.2 < n_tags / unsafe_words < 0.4


def test_tags_are_deterministic_and_independent_of_workers(prepared):
    a = records(prepared("tag", interventions__tag__p=0.3) / "docs")
    b = records(prepared("tag", interventions__tag__p=0.3, tasks=3, run__workers=2) / "docs")
    assert sorted((d["id"], d["text"]) for d in a) == sorted((d["id"], d["text"]) for d in b)


def test_span_scope_tags_only_inside_unsafe_spans(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    for d in records(prepared("tag", interventions__tag__p=1.0, interventions__tag__scope="spans") / "docs"):
        w = world[d["id"]]
        if w["metadata"]["safety"] != "unsafe":
            continue
        first = min(s["start"] for s in w["metadata"]["spans"])
        assert TAG_TOKEN not in d["text"][:first]  # the text before the first unsafe span is untouched
        assert d["text"].count(TAG_TOKEN) > 0
