"""Everything a report is made from, checked once so rendering never meets bad input."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    ValidationError,
    model_validator,
)

from safereflect.errors import UserError
from safereflect.report.claims import Claim
from safereflect.report.schema import Results, as_results


class Sample(BaseModel):
    """One generation of one arm on one probe, with the judge's verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    arm: str
    probe_id: str
    attack: str
    prompt: str
    completion: str
    success: bool  # the attack succeeded: the completion is unsafe
    flagged: bool  # the model's own reflection judged the context unsafe
    reason: str | None = None
    unparseable: bool = False  # the judge could not read the answer: neither safe nor unsafe


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def _loc(loc: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "<root>"


class ReportInputs(BaseModel):
    """Results plus what the runner knows about the run; invalid input raises `UserError`.

    `claims=None` means "check the paper's six claims" (`check_claims(results)`); a list is
    shown as given. `results` takes a parsed `Results` or the `results.json` mapping.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    results: Annotated[Results, PlainValidator(as_results)]
    config: dict[str, Any] = {}
    versions: dict[str, str] = {}
    machine: str = ""
    date: Annotated[str, BeforeValidator(_iso)] = ""
    samples: list[Sample] = []
    claims: list[Claim] | None = None
    # metric -> {how it was measured (the evaluation's judges.json) -> the arms measured so}
    methods: dict[str, dict[str, list[str]]] = {}

    # A wrap validator (not __init__) so `model_validate` raises `UserError` too; the results
    # parser raises `UserError` itself, which pydantic lets through untouched.
    @model_validator(mode="wrap")
    @classmethod
    def _as_user_error(cls, data: Any, handler: Any) -> ReportInputs:
        try:
            inputs = handler(data)
        except ValidationError as err:
            lines = [f"  {_loc(tuple(e['loc']))}: {e['msg']}" for e in err.errors()]
            raise UserError("invalid report inputs:\n" + "\n".join(lines)) from None
        unknown = sorted({s.arm for s in inputs.samples} - set(inputs.results.arms))
        if unknown:
            raise UserError(
                f"invalid report inputs:\n  samples: arm(s) {', '.join(unknown)} not in "
                f"results (arms: {', '.join(inputs.results.arms)})"
            )
        inputs.config_yaml()  # fail now, not halfway through writing the report
        return inputs

    def config_yaml(self) -> str:
        try:
            return yaml.safe_dump(self.config, sort_keys=False, allow_unicode=True)
        except yaml.YAMLError as err:
            raise UserError(f"invalid report inputs:\n  config: not representable as YAML ({err})") from None
