"""The world's entities and rules, and their JSON form (`world.json`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from safereflect.errors import UserError

SCHEMA_VERSION = 1
Split = Literal["seen", "heldout"]


@dataclass(frozen=True)
class Effect:
    id: str
    verb: str  # "lowers blood pressure"
    noun: str  # "lowering blood pressure"


@dataclass(frozen=True)
class Harm:
    """A contraindication: `effect` in a patient with the owning condition causes `outcome`."""

    effect: str
    outcome: str


@dataclass(frozen=True)
class Condition:
    id: str
    name: str
    helped_by: str  # effect id
    harms: tuple[Harm, ...]


@dataclass(frozen=True)
class Drug:
    name: str
    effects: tuple[str, ...]  # effect ids; the first is the drug's therapeutic use


@dataclass(frozen=True)
class Interaction:
    """Two drugs that, taken together, cause `outcome` through `process`."""

    drugs: tuple[str, str]  # sorted
    process: str
    outcome: str


@dataclass(frozen=True)
class Mechanism:
    """One way to harm a patient; the unit of the seen / held-out split."""

    id: str
    kind: Literal["contraindication", "interaction"]
    outcome: str
    split: Split
    effect: str | None = None  # contraindication
    condition: str | None = None  # contraindication
    drugs: tuple[str, str] | None = None  # interaction


@dataclass(frozen=True)
class Patient:
    name: str
    conditions: tuple[str, ...]
    medications: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "conditions": list(self.conditions), "medications": list(self.medications)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Patient:
        return cls(d["name"], tuple(d["conditions"]), tuple(d.get("medications", ())))


def contraindication_id(effect: str, condition: str) -> str:
    return f"contra:{effect}:{condition}"


def interaction_id(a: str, b: str) -> str:
    x, y = sorted((a, b))
    return f"inter:{x}:{y}"


@dataclass(frozen=True)
class World:
    preset: str
    seed: int
    effects: tuple[Effect, ...]
    outcomes: dict[str, str]  # id -> noun phrase
    conditions: tuple[Condition, ...]
    drugs: tuple[Drug, ...]
    interactions: tuple[Interaction, ...]
    mechanisms: tuple[Mechanism, ...]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # --- look-ups -------------------------------------------------------------------
    @cached_property
    def effect(self) -> dict[str, Effect]:
        return {e.id: e for e in self.effects}

    @cached_property
    def condition(self) -> dict[str, Condition]:
        return {c.id: c for c in self.conditions}

    @cached_property
    def drug(self) -> dict[str, Drug]:
        return {d.name: d for d in self.drugs}

    @cached_property
    def mechanism(self) -> dict[str, Mechanism]:
        return {m.id: m for m in self.mechanisms}

    @cached_property
    def interaction_of(self) -> dict[tuple[str, str], Interaction]:
        return {i.drugs: i for i in self.interactions}

    def drugs_with_effect(self, effect: str) -> list[str]:
        return [d.name for d in self.drugs if effect in d.effects]

    def mechanisms_in(self, split: Split) -> list[Mechanism]:
        return [m for m in self.mechanisms if m.split == split]

    # --- JSON -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def clean(obj: Any) -> Any:
            d = asdict(obj)
            return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

        return {
            "schema_version": SCHEMA_VERSION,
            "preset": self.preset,
            "seed": self.seed,
            "effects": [clean(e) for e in self.effects],
            "outcomes": dict(sorted(self.outcomes.items())),
            "conditions": [
                {"id": c.id, "name": c.name, "helped_by": c.helped_by, "harms": [asdict(h) for h in c.harms]}
                for c in self.conditions
            ],
            "drugs": [clean(d) for d in self.drugs],
            "interactions": [clean(i) for i in self.interactions],
            "mechanisms": [{k: v for k, v in clean(m).items() if v is not None} for m in self.mechanisms],
            **self.extra,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> World:
        known = {
            "schema_version",
            "preset",
            "seed",
            "effects",
            "outcomes",
            "conditions",
            "drugs",
            "interactions",
            "mechanisms",
        }
        return cls(
            preset=d["preset"],
            seed=d["seed"],
            effects=tuple(Effect(**e) for e in d["effects"]),
            outcomes=dict(d["outcomes"]),
            conditions=tuple(
                Condition(c["id"], c["name"], c["helped_by"], tuple(Harm(**h) for h in c["harms"]))
                for c in d["conditions"]
            ),
            drugs=tuple(Drug(x["name"], tuple(x["effects"])) for x in d["drugs"]),
            interactions=tuple(Interaction(tuple(i["drugs"]), i["process"], i["outcome"]) for i in d["interactions"]),
            mechanisms=tuple(
                Mechanism(
                    id=m["id"],
                    kind=m["kind"],
                    outcome=m["outcome"],
                    split=m["split"],
                    effect=m.get("effect"),
                    condition=m.get("condition"),
                    drugs=tuple(m["drugs"]) if m.get("drugs") else None,
                )
                for m in d["mechanisms"]
            ),
            extra={k: v for k, v in d.items() if k not in known},
        )


def load_world(path: str | Path) -> World:
    """Load `world.json` from a file or a world directory."""
    path = Path(path)
    if path.is_dir():
        path = path / "world.json"
    if not path.is_file():
        raise UserError(f"no MedSafetyWorld at {path} (expected world.json; create one with `safereflect world`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise UserError(f"{path}: world schema version {data.get('schema_version')} is not {SCHEMA_VERSION}")
        return World.from_json(data)
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a valid world.json ({err})") from None
