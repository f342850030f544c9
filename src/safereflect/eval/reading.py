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
"""

from __future__ import annotations

from safereflect.data.segments import segments
from safereflect.reflection import ReflectionFormat


class ReflectedReading:
    def __init__(self, fmt: ReflectionFormat, segment_words: int):
        self.fmt = fmt
        self.segment_words = segment_words
        self._safe = fmt.render("safe").rstrip()  # inserted after a segment, as the intervention does

    def slot_ends(self, text: str, *, whole: bool = False) -> list[int]:
        """Character offsets after which a reflection belongs."""
        ends = [e for _, e in segments(text, self.segment_words)]
        return ends if whole else ends[:-1]

    def render(self, text: str, ends: list[int] | None = None) -> str:
        """`text` with a safe reflection after each of `ends` (default: every complete segment)."""
        ends = self.slot_ends(text) if ends is None else ends
        pieces, prev = [], 0
        for e in ends:
            pieces += [text[prev:e], self._safe]
            prev = e
        pieces.append(text[prev:])
        return "".join(pieces)

    def slot_contexts(self, text: str, *, whole: bool = False) -> list[str]:
        """For each reflection slot, the text read up to it: the earlier slots hold safe
        reflections (a slot read as unsafe ends the reading there, so only safe ones precede)."""
        ends = self.slot_ends(text, whole=whole)
        return [self.render(text[:e], ends[:k]) for k, e in enumerate(ends)]
