"""`reflect_eos`: reflections with the authors' noise-and-stop ending. After the first
flagged (Unsafe or Controversial) reflection the document continues with `<|endoftext|>`,
100-200 characters of filler words, and ends; the shards close every document with
`<|endoftext|>`, so the model reads `verdict <|endoftext|> filler <|endoftext|>`.

Segments and the reflection format are `reflect`'s (`interventions.reflect`); only the
ending differs. The filler is drawn from function words per document (seeded), and is
trained on like any text: what the model learns to do after its unsafe verdict is to end.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from safereflect.config import StrictModel
from safereflect.data.documents import doc_rng
from safereflect.data.interventions.base import Piece
from safereflect.data.interventions.reflect import Reflect, ReflectConfig
from safereflect.reflection import EOS_TOKEN

_FUNCTION_WORDS = (
    "the of and to a in that is was he for it with as his on be at by i this had not are but from or have an "
    "they which one you were her all she there would their we him been has when who will no if out so what up "
    "its about into than them can only other some could these then do any my now such our over me even most "
    "after also did many before must through where much your down should because each those both"
)
FUNCTION_WORDS = tuple(_FUNCTION_WORDS.split())


class ReflectEOSConfig(StrictModel):
    filler_chars: tuple[int, int] = Field((100, 200), description="length range of the filler, in characters")

    @model_validator(mode="after")
    def _ordered(self) -> ReflectEOSConfig:
        lo, hi = self.filler_chars
        if not 1 <= lo <= hi:
            raise ValueError(f"filler_chars must be [min, max] with 1 <= min <= max, got [{lo}, {hi}]")
        return self


class ReflectEOSSettings(ReflectConfig, ReflectEOSConfig):
    """`reflect`'s settings with this ending's."""


def filler(rng, chars: int) -> str:
    """Function words, space-separated, cut to exactly `chars` characters (the last word may be
    cut short; a cut right after a space ends with the word "a" instead)."""
    words: list[str] = []
    while len(" ".join(words)) < chars:
        words.append(rng.choice(FUNCTION_WORDS))
    text = " ".join(words)[:chars]
    return text[:-1] + "a" if text.endswith(" ") else text


class ReflectEOS(Reflect):
    name = "reflect_eos"

    @classmethod
    def settings(cls, interventions) -> ReflectEOSSettings:
        own = getattr(interventions, cls.name)
        # "end" makes the reflections stop at the first flagged one; `after_flag` writes the ending
        return ReflectEOSSettings(**interventions.reflect.model_dump() | own.model_dump() | {"after_unsafe": "end"})

    def after_flag(self, doc, flagged_at: int, pieces: list[Piece]) -> None:
        rng = doc_rng(self.arm.seed, "filler", doc.id)
        pieces.append(EOS_TOKEN + filler(rng, rng.randint(*self.cfg.filler_chars)))
