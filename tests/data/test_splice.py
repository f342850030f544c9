"""Ids built from the input's ids (splice) must be exactly what encoding the text gives."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safereflect.data.interventions.tag import tag_positions
from safereflect.data.splice import Splicer, splice_safe
from safereflect.reflection import TAG_TOKEN, ReflectionFormat


@pytest.fixture(scope="module")
def tokenizer(shared_tokenizer):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(shared_tokenizer / "tokenizer.json"))


def test_our_tokenizer_is_splice_safe(tokenizer):
    assert splice_safe(tokenizer)


texts = st.lists(st.sampled_from(list("ab. \n!é中") + ["Give ", "Milo ", "cardiac "]), max_size=25).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.lists(st.integers(min_value=0, max_value=60), max_size=4), st.booleans())
def test_spliced_ids_equal_encoding(tokenizer, text, cuts, tags):
    fmt = ReflectionFormat()
    literal = TAG_TOKEN if tags else fmt.render("unsafe", "Patient Harm").rstrip()
    # cut points as the interventions make them: after a non-space character, before a space
    points = sorted({c for c in cuts if 0 < c < len(text) and text[c].isspace() and not text[c - 1].isspace()})
    pieces, prev = [], 0
    for c in points:
        pieces += [(prev, c), literal]
        prev = c
    pieces.append((prev, len(text)))
    edited = "".join(text[p[0] : p[1]] if isinstance(p, tuple) else p for p in pieces)
    enc = tokenizer.encode(text, add_special_tokens=False)
    ids = Splicer(tokenizer).ids(text, enc, pieces)
    assert ids == tokenizer.encode(edited, add_special_tokens=False).ids


def test_tag_positions_are_before_the_space(tokenizer):
    import random

    text = "one two  three\nfour"
    cuts = tag_positions(text, 1.0, random.Random(0), None)
    assert cuts == [0, 3, 7, 14]
