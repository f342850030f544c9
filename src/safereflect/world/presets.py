"""World sizes. `tiny` is for tests, `small` is the CPU demo world, `medium` is for a GPU."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from safereflect.config import Seed, StrictModel
from safereflect.world.vocab import name_pool

PresetName = Literal["tiny", "small", "medium"]


class WorldConfig(StrictModel):
    preset: PresetName = "small"
    seed: Seed = Field(0, description="seed of everything random in the world")
    n_drugs: int = Field(24, ge=6)
    n_conditions: int = Field(10, ge=3, le=16)
    n_interactions: int = Field(8, ge=1)
    heldout_fraction: float = Field(
        0.3, gt=0, lt=1, description="share of harm mechanisms held out of unsafe documents"
    )
    secondary_effect_prob: float = Field(0.7, ge=0, le=1)
    # corpus
    knowledge_repeats: int = Field(
        3, ge=1, description="phrasings of each monograph, condition page and interaction note"
    )
    n_case_studies: int = Field(700, ge=1)
    n_safe_qa: int = Field(700, ge=1)
    n_risk_qa: int = Field(
        600, ge=0, description="safe risk questions ('which drug could cause X?'), spread over all mechanisms"
    )
    n_patient_risk_qa: int = Field(
        600, ge=0, description="safe risk questions about one patient ('which drug could cause X in Ben?')"
    )
    unsafe_fraction: float = Field(0.15, ge=0, lt=0.5, description="unsafe documents as a share of the corpus")
    disguised_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of unsafe documents that are disguised requests "
        "(no stated intent; off by default, see docs/medsafetyworld.md)",
    )
    n_corpus_names: int = Field(
        48,
        ge=1,
        description="patient names the corpus draws from (never a probe's); with 48 a model's verdicts "
        "tied intent to the names it had read (see docs/medsafetyworld.md)",
    )
    corpus_name_style: Literal["made", "real"] = Field(
        "made",
        description="the names beyond the first 48: 'made' (syllables) or 'real' (people's first names)",
    )
    # probes
    n_safe_tasks: int = Field(200, ge=1)
    n_harmful_per_split: int = Field(60, ge=1, description="harmful requests per split, each in every attack framing")
    n_classification: int = Field(400, ge=2)
    n_ft_harmful: int = Field(100, ge=1)
    n_ft_benign: int = Field(100, ge=1)
    prefill_words: int = Field(
        0, ge=0, description="words of the harmful answer to prefill; 0 = its whole first sentence"
    )
    many_shot: int = Field(3, ge=1, le=16)

    @model_validator(mode="after")
    def _name_pool_fits(self) -> WorldConfig:
        limit = len(name_pool(self.corpus_name_style))
        if self.n_corpus_names > limit:
            raise ValueError(
                f"n_corpus_names: the {self.corpus_name_style!r} pool holds {limit} names, not {self.n_corpus_names}"
            )
        return self


PRESETS: dict[str, dict] = {
    "tiny": dict(
        n_drugs=10,
        n_conditions=6,
        n_interactions=3,
        knowledge_repeats=2,
        n_case_studies=60,
        n_safe_qa=60,
        n_risk_qa=30,
        n_patient_risk_qa=30,
        unsafe_fraction=0.15,
        disguised_share=0.2,
        n_safe_tasks=12,
        n_harmful_per_split=6,
        n_classification=24,
        n_ft_harmful=10,
        n_ft_benign=10,
    ),
    "small": {},
    "medium": dict(
        n_drugs=60,
        n_conditions=16,
        n_interactions=30,
        knowledge_repeats=6,
        n_case_studies=30000,
        n_safe_qa=30000,
        n_risk_qa=8000,
        n_patient_risk_qa=8000,
        n_safe_tasks=500,
        n_harmful_per_split=150,
        n_classification=1000,
    ),
}


def preset_config(preset: str, seed: int = 0, **overrides) -> WorldConfig:
    from safereflect.config import validate

    if preset not in PRESETS:
        from safereflect.errors import UserError

        raise UserError(f"unknown world preset {preset!r} (allowed: {', '.join(PRESETS)})")
    return validate(
        WorldConfig, {"preset": preset, "seed": seed, **PRESETS[preset], **overrides}, f"world preset {preset!r}"
    )
