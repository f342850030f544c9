"""Cutting text into segments of at most N words at sentence boundaries.

As published for Safety Reflection Pretraining: sentences end at `.?!` (and their CJK
forms) or a newline; sentences are packed greedily into segments of at most N words; a
sentence longer than N words is cut into N-word chunks. Chinese and Japanese are counted in
characters, since they are written without spaces. Segments are character spans that end
right after their last non-space character, so a reflection inserted at a span's end never
splits a word.
"""

from __future__ import annotations

import re
from itertools import pairwise

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # kana and ideographs: one word each
_CJK_PUNCT = "\u3000-\u303f\uff01-\uff0f\uff1a-\uff20"  # not words
WORD = re.compile(rf"[{_CJK}]|[^\s{_CJK}{_CJK_PUNCT}]+")
_SENTENCE_END = re.compile(r"[.?!]+[\"'”’)\]]*(?=\s|$)|[。！？]+[」』”’）\"')]*|\n")

Span = tuple[int, int]

_ANY_CJK = re.compile(f"[{_CJK}{_CJK_PUNCT}]")


def count_words(text: str, start: int = 0, end: int | None = None) -> int:
    end = len(text) if end is None else end
    if _ANY_CJK.search(text, start, end) is None:  # then words are exactly the whitespace-separated runs
        return len(text[start:end].split())
    return len(WORD.findall(text, start, end))


def _trimmed(text: str, start: int, end: int) -> Span | None:
    piece = text[start:end]
    body = piece.strip()
    if not body:
        return None
    start += len(piece) - len(piece.lstrip())
    return start, start + len(body)


def sentences(text: str) -> list[Span]:
    """Sentence spans, without surrounding whitespace."""
    spans: list[Span] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start() if m.group() == "\n" else m.end()
        if (span := _trimmed(text, start, end)) is not None:
            spans.append(span)
        start = m.end()
    if (span := _trimmed(text, start, len(text))) is not None:
        spans.append(span)
    return spans


def segments(text: str, max_words: int) -> list[Span]:
    """Spans of consecutive sentences with at most `max_words` words each."""
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    if count_words(text) <= max_words:  # the common case of a short document: one segment
        whole = _trimmed(text, 0, len(text))
        return [whole] if whole else []
    cjk = _ANY_CJK.search(text) is not None
    out: list[Span] = []
    cur: Span | None = None
    cur_words = 0
    for s, e in sentences(text):
        n = len(WORD.findall(text, s, e)) if cjk else len(text[s:e].split())
        if n > max_words:
            if cur is not None:
                out.append(cur)
                cur, cur_words = None, 0
            words = list(WORD.finditer(text, s, e))
            for i in range(0, n - max_words, max_words):
                out.append((s if i == 0 else words[i].start(), words[i + max_words - 1].end()))
            # the last chunk stays open, so the next sentence can join it
            tail = (n - 1) // max_words * max_words
            cur, cur_words = (words[tail].start() if tail else s, e), n - tail
        elif cur is not None and cur_words + n <= max_words:
            cur, cur_words = (cur[0], e), cur_words + n
        else:
            if cur is not None:
                out.append(cur)
            cur, cur_words = (s, e), n
    if cur is not None:
        out.append(cur)
    return out


def prompt_segments(text: str, max_words: int, prompt_end: str) -> list[Span]:
    """`segments` of each prompt (the text up to and including each `prompt_end`) and of the
    text after the last one, each stretch cut on its own: a prompt's last segment ends where the
    prompt does, so a reflection can follow the prompt before any answer."""
    cuts = [m.end() for m in re.finditer(re.escape(prompt_end), text)]
    bounds = [0, *cuts, len(text)]
    return [(a + s, a + e) for a, b in pairwise(bounds) for s, e in segments(text[a:b], max_words)]
