import json

import numpy as np

from safereflect.data.interventions.reflect_eos import FUNCTION_WORDS
from safereflect.reflection import EOS_TOKEN

from ..conftest import records, world_docs

N = 12


def test_an_unsafe_verdict_is_followed_by_eos_filler_eos(prepared, tiny_world_dir):
    world = world_docs(tiny_world_dir)
    reflected = {
        d["id"]: d["text"] for d in records(prepared("reflect", interventions__reflect__segment_words=N) / "docs")
    }
    out = prepared("reflect_eos", interventions__reflect__segment_words=N)
    ended = {}
    for d in records(out / "docs"):
        if world[d["id"]]["metadata"]["safety"] == "safe":
            assert d["text"] == reflected[d["id"]]  # safe documents: reflect's reflections, nothing else
            continue
        head, filler = d["text"].split(EOS_TOKEN)  # one EOS inside; the shards add the closing one
        assert head == reflected[d["id"]] and head.endswith("</think>")  # up to the unsafe verdict as reflect
        assert 100 <= len(filler) <= 200 and set(filler.split()[:-1]) <= set(FUNCTION_WORDS)
        ended[d["id"]] = d["text"]
    assert len(ended) > 10 and len({len(t.split(EOS_TOKEN)[1]) for t in ended.values()}) > 1  # lengths vary

    # the training tokens: ... </think> <|endoftext|> filler <|endoftext|>, the tokenizer's own encoding
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out / "tokens" / "tokenizer"))
    meta = json.loads((out / "tokens" / "meta.json").read_text())
    eos = meta["eos_token_id"]
    seen = 0
    for f in meta["splits"]["train"]["files"]:
        ids = np.fromfile(out / "tokens" / f, dtype=np.uint16).tolist()
        start = 0
        for end in np.fromfile(out / "tokens" / (f + ".index"), dtype=np.uint64).tolist():
            doc = ids[start:end]
            start = end
            if doc.count(eos) == 2:
                text = tok.decode(doc[:-1])
                assert text in ended.values() and doc[:-1] == tok(text, add_special_tokens=False)["input_ids"]
                assert tok.convert_ids_to_tokens(doc[doc.index(eos) - 1]) == "</think>" and doc[-1] == eos
                seen += 1
            else:
                assert doc.count(eos) == 1 and doc[-1] == eos
    assert seen > 5
