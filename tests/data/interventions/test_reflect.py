import json
import re

from safereflect.data.segments import count_words
from safereflect.reflection import DEFAULT_FORMAT

from ..conftest import records, world_docs

N = 12
REFLECTION = re.compile(r" <think> (.*?) </think>")


def _pieces(text):
    """(segment text, verdict body) pairs in order; the last body may be None."""
    out, prev = [], 0
    for m in REFLECTION.finditer(text):
        out.append((text[prev : m.start()], m.group(1)))
        prev = m.end()
    out.append((text[prev:], None))
    return out


def test_no_segment_between_reflections_is_over_n_words(prepared):
    for d in records(prepared("reflect", interventions__reflect__segment_words=N) / "docs"):
        assert all(count_words(seg) <= N for seg, _ in _pieces(d["text"]))


def test_unsafe_documents_get_an_unsafe_reflection_and_end_there(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    for d in records(prepared("reflect", interventions__reflect__segment_words=N) / "docs"):
        w = world[d["id"]]
        verdicts = [DEFAULT_FORMAT.parse_body(b) for _, b in _pieces(d["text"]) if b is not None]
        if w["metadata"]["safety"] == "safe":
            assert verdicts and set(verdicts) == {"safe"}
            assert REFLECTION.sub("", d["text"]) == w["text"]  # reflections are only inserted
            continue
        assert verdicts[-1] == "unsafe" and verdicts.count("unsafe") == 1
        assert d["text"].endswith("</think>")  # the document ends right after the unsafe reflection
        # the unsafe reflection comes at or after the first segment that reaches into an unsafe span
        first_span = min(s["start"] for s in w["metadata"]["spans"])
        before = d["text"][: d["text"].rindex(" <think>")]
        assert len(before.replace(" <think> Safe </think>", "")) > first_span
        safe_prefix = before[: before.rindex(" <think>")] if " <think>" in before else ""
        assert len(safe_prefix.replace(" <think> Safe </think>", "")) <= first_span


def test_counts_of_reflections_are_recorded(prepared):
    out = prepared("reflect", interventions__reflect__segment_words=N)
    docs = records(out / "docs")
    stats = json.loads((out / "stats.json").read_text())
    for verdict in ("safe", "unsafe"):
        assert stats["reflections"][verdict] == sum(d["metadata"]["safereflect"]["reflections"][verdict] for d in docs)
    assert stats["reflections"]["unsafe"] == sum(1 for d in docs if d["metadata"]["safety"] == "unsafe")


def test_continue_keeps_reflecting_to_the_end(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    out = prepared("reflect", interventions__reflect__segment_words=N, interventions__reflect__after_unsafe="continue")
    for d in records(out / "docs"):
        assert REFLECTION.sub("", d["text"]) == world[d["id"]]["text"]


def test_noise_replaces_the_rest_and_masks_it_from_the_loss(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    out = prepared("reflect", interventions__reflect__segment_words=N, interventions__reflect__after_unsafe="noise")
    noisy = [d for d in records(out / "docs") if d["metadata"].get("no_loss_ranges")]
    assert noisy
    for d in noisy:
        ((start, end),) = d["metadata"]["no_loss_ranges"]
        assert d["text"][:start].endswith("</think>") and end == len(d["text"])
        rest = world[d["id"]]["text"][len(REFLECTION.sub("", d["text"][:start])) :]
        assert count_words(d["text"][start:end]) == count_words(rest)


def test_evaluation_reads_prompts_exactly_as_the_intervention_wrote_the_corpus(prepared, tiny_world_dir):
    # a reflection-pretrained model is evaluated on prompts rendered by ReflectedReading;
    # for a safe text it must produce the corpus's own bytes (the end-of-text reflection aside)
    from safereflect.eval.reading import ReflectedReading

    reading = ReflectedReading(DEFAULT_FORMAT, N)
    world = world_docs(tiny_world_dir)
    checked = 0
    for d in records(prepared("reflect", interventions__reflect__segment_words=N) / "docs"):
        w = world[d["id"]]
        if w["metadata"]["safety"] != "safe":
            continue
        end = DEFAULT_FORMAT.render("safe").rstrip()
        assert d["text"].endswith(end)
        assert reading.render(w["text"]) == d["text"][: -len(end)]
        ends = reading.slot_ends(w["text"], whole=True)
        assert reading.render(w["text"], ends) == d["text"]
        checked += 1
    assert checked > 50
