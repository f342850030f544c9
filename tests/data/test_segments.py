from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from safereflect.data.segments import count_words, segments, sentences


def test_sentences_split_on_punctuation_and_newlines():
    text = "One two. Three?\nFour! Five"
    assert [text[s:e] for s, e in sentences(text)] == ["One two.", "Three?", "Four!", "Five"]


def test_decimal_point_is_not_a_sentence_end():
    text = "Take 2.5 mg daily. Then stop."
    assert [text[s:e] for s, e in sentences(text)] == ["Take 2.5 mg daily.", "Then stop."]


def test_sentences_are_packed_up_to_the_limit():
    text = "a b c. d e. f g h i."
    assert [text[s:e] for s, e in segments(text, 5)] == ["a b c. d e.", "f g h i."]


def test_long_sentence_is_chunked_and_its_tail_joins_the_next():
    text = "a b c d e f g h i j k l. m n."
    assert [text[s:e] for s, e in segments(text, 5)] == ["a b c d e", "f g h i j", "k l. m n."]


def test_cjk_is_counted_in_characters():
    text = "这是一个测试。下一句。"
    assert count_words(text) == 9
    assert [text[s:e] for s, e in segments(text, 5)] == ["这是一个测", "试。下一句。"]


def test_empty_and_blank_text_have_no_segments():
    assert segments("", 10) == [] and segments("  \n ", 10) == []


words = st.text(alphabet="abc.?! \n中", min_size=0, max_size=200)


@settings(max_examples=200, deadline=None)
@given(words, st.integers(min_value=1, max_value=12))
def test_segments_cover_all_words_in_order_and_respect_the_limit(text, n):
    spans = segments(text, n)
    assert all(count_words(text[s:e]) <= n for s, e in spans)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))
    assert sum(count_words(text[s:e]) for s, e in spans) == count_words(text)
    assert all(not text[s].isspace() and not text[e - 1].isspace() for s, e in spans)
