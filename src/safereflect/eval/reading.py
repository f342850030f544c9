"""How a reflection-pretrained model reads a prompt: in the format of its pretraining text.

Such a model never saw text without a reflection after each segment, so a plain prompt is
out of distribution for it (a question not followed by a reflection; a verdict asked for
after an answer cue, where pretraining never put one). A model pretrained with reflections
every N words reads a prompt the same way: the prompt is cut into segments exactly as the
intervention cut the corpus, and after each complete segment comes the model's own
reflection. The verdict there is read from the model (`slot_contexts`, used by monitored
decoding and zero-shot classification); once read as safe, the safe reflection stays in
the context (`render`). Nothing the oracle knows enters the prompt.

The last segment of a prompt stays open: the answer continues it, and in pretraining the
reflection came after the segment's end, wherever that fell. Text that is read whole
(classification) also gets the end-of-text reflection, as every document did.

A reading is an explicit object handed to decoding and scoring (`build_reading` makes the one
an evaluation config declares); the model adapter (`CausalLM`) reads text exactly as given.
Models not pretrained with reflections get `PLAIN`: prompts as written, and one slot (the end
of the text) when a text is read whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from safereflect.data.segments import prompt_segments, segments
from safereflect.reflection import ReflectionFormat

if TYPE_CHECKING:
    from safereflect.eval.config import DecodingConfig


class Reading(Protocol):
    """How prompts are put before a model: `render` gives the text it reads, `slot_contexts`
    the text read up to each reflection slot (where its verdict is read)."""

    def render(self, text: str) -> str: ...

    def slot_contexts(self, text: str, *, whole: bool = False) -> list[str]: ...


class PlainReading:
    """Text read as written: no reflections inserted, no slots inside a prompt."""

    def render(self, text: str) -> str:
        return text

    def slot_contexts(self, text: str, *, whole: bool = False) -> list[str]:
        """Read whole, the end of the text is the one slot; a prompt has none."""
        return [text] if whole else []

    def __repr__(self) -> str:
        return "PlainReading()"


PLAIN = PlainReading()


class ReflectedReading:
    """Text read in the reflect corpus format, with a safe reflection after every complete segment.

    With `prompt_end` (models of `reflect_prompt`, whose corpus puts a reflection right after
    each prompt), each prompt up to `prompt_end` is cut on its own, and a prompt that ends there
    is complete: its last slot is read too, before any answer.
    """

    def __init__(self, fmt: ReflectionFormat, segment_words: int, prompt_end: str | None = None):
        self.fmt = fmt
        self.segment_words = segment_words
        self.prompt_end = prompt_end
        self._safe = fmt.render("safe").rstrip()  # inserted after a segment, as the intervention does

    def slot_ends(self, text: str, *, whole: bool = False) -> list[int]:
        """Character offsets after which a reflection belongs."""
        if self.prompt_end is None:
            spans = segments(text, self.segment_words)
        else:
            spans = prompt_segments(text, self.segment_words, self.prompt_end)
        ends = [e for _, e in spans]
        if whole or (ends and self.prompt_end is not None and text[: ends[-1]].endswith(self.prompt_end)):
            return ends
        return ends[:-1]

    def render(self, text: str, ends: list[int] | None = None) -> str:
        """`text` with a safe reflection after each of `ends` (default: every complete segment)."""
        return "".join(piece for piece, _ in self.pieces(text, ends))

    def pieces(self, text: str, ends: list[int] | None = None) -> list[tuple[str, bool]]:
        """`render`'s text in pieces, each with whether it is an inserted reflection: the
        stretches of `text` between `ends` in turn with the reflections after them."""
        ends = self.slot_ends(text) if ends is None else ends
        out, prev = [], 0
        for e in ends:
            out += [(text[prev:e], False), (self._safe, True)]
            prev = e
        out.append((text[prev:], False))
        return out

    def slot_contexts(self, text: str, *, whole: bool = False) -> list[str]:
        """For each reflection slot, the text read up to it: the earlier slots hold safe
        reflections (a slot read as unsafe ends the reading there, so only safe ones precede)."""
        ends = self.slot_ends(text, whole=whole)
        return [self.render(text[:e], ends[:k]) for k, e in enumerate(ends)]

    def __repr__(self) -> str:
        end = "" if self.prompt_end is None else f", prompt_end={self.prompt_end!r}"
        return f"ReflectedReading(segment_words={self.segment_words}{end})"


def build_reading(dec: DecodingConfig) -> Reading:
    """The reading a decoding config declares: reflected with `read_segment_words`, else plain."""
    n = dec.read_segment_words
    return PLAIN if n is None else ReflectedReading(dec.reflection, n, dec.read_prompt_end)
