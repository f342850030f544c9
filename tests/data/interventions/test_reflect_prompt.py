import re

from safereflect.reflection import DEFAULT_FORMAT, EOS_TOKEN

from ..conftest import records, world_docs

REFLECTION = re.compile(r" <think> (.*?) </think>")


def test_every_prompt_is_judged_where_it_ends_before_any_answer(prepared, tiny_world_dir):
    # segments of 100 words hold a whole world document: plain `reflect` judges each one only
    # at its end, after the answer; `reflect_prompt` judges the request right after "Answer:"
    world = world_docs(tiny_world_dir)
    stopped = 0
    for d in records(prepared("reflect_prompt") / "docs"):
        w = world[d["id"]]
        text = d["text"].split(EOS_TOKEN)[0]
        assert text.count("Answer:") == re.sub(r"\s+", " ", text).count("Answer: <think>")
        if w["metadata"]["safety"] == "safe":
            assert EOS_TOKEN not in d["text"] and REFLECTION.sub("", d["text"]) == w["text"]
            continue
        verdicts = [DEFAULT_FORMAT.parse_body(b) for b in REFLECTION.findall(text)]
        assert verdicts[-1] == "unsafe" and EOS_TOKEN in d["text"]  # then the noise-and-stop ending
        question, _, answer = w["text"].partition("Answer:")
        if answer and any(s["start"] < len(question) for s in w["metadata"]["spans"]):  # a harmful request
            assert text.endswith("Answer: <think> Unsafe: Patient Harm </think>") and answer.strip() not in text
            stopped += 1
    assert stopped > 10


def test_evaluation_reads_prompts_exactly_as_reflect_prompt_wrote_the_corpus(prepared, tiny_world_dir):
    # a safe document read with the prompt-reflecting reading gives the corpus's own bytes
    from safereflect.eval.reading import ReflectedReading

    n = 12
    reading = ReflectedReading(DEFAULT_FORMAT, n, prompt_end="Answer:")
    world = world_docs(tiny_world_dir)
    checked = prompts = 0
    for d in records(prepared("reflect_prompt", interventions__reflect__segment_words=n) / "docs"):
        w = world[d["id"]]
        if w["metadata"]["safety"] != "safe":
            continue
        assert reading.render(w["text"], reading.slot_ends(w["text"], whole=True)) == d["text"]
        question, cue, _ = w["text"].partition("Answer:")
        if cue:  # the prompt alone, as an evaluation asks it, reads as the corpus began
            assert d["text"].startswith(reading.render(question + cue))
            prompts += 1
        checked += 1
    assert checked > 50 and prompts > 20
