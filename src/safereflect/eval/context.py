"""What every suite of one evaluation shares: config, model, the reading, probes, judges and the logs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from safereflect.errors import UserError
from safereflect.eval.config import EvalConfig
from safereflect.eval.probes import Probes
from safereflect.eval.stats import Metric, mean_metric, metric_seed

if TYPE_CHECKING:
    from safereflect.eval.judges.base import JudgeVerdict
    from safereflect.eval.judges.oracle import OracleJudge
    from safereflect.eval.lm import CausalLM
    from safereflect.eval.reading import Reading

# run_finetune-like: keyword arguments of the engine's FinetuneConfig -> HF export dir
FinetuneFn = Callable[..., Any]


@dataclass
class EvalContext:
    cfg: EvalConfig
    lm: CausalLM
    model_path: str  # what finetuning starts from: the resolved export dir or hub name
    probes: Probes | None
    finetune_fn: FinetuneFn | None = None
    results: dict[str, Any] = field(default_factory=dict)  # metrics of the suites run so far
    notes: dict[str, str] = field(default_factory=dict)  # metric -> the judge or method behind it
    generations: list[dict[str, Any]] = field(default_factory=list)
    scores: list[dict[str, Any]] = field(default_factory=list)

    def need_probes(self, suite: str) -> Probes:
        if self.probes is None:
            raise UserError(f"suite {suite!r} needs MedSafetyWorld probes (--probes DIR)")
        return self.probes

    @cached_property
    def reading(self) -> Reading:
        """How this evaluation puts text before the model (and every model finetuned from it),
        as the decoding config declares; passed to every decoding and scoring call."""
        from safereflect.eval.reading import build_reading

        return build_reading(self.cfg.decoding)

    @cached_property
    def oracle(self) -> OracleJudge:
        from safereflect.eval.judges.oracle import OracleJudge

        return OracleJudge(self.need_probes("asr").world, self.cfg.decoding.reflection)

    def seed(self, name: str) -> int:
        return metric_seed(self.cfg.seed, name)

    def rate(self, name: str, values: list[float]) -> Metric:
        """A mean of per-item values with its bootstrap CI."""
        return mean_metric(values, seed=self.seed(name), resamples=self.cfg.bootstrap)

    def harm_rate(self, name: str, verdicts: Sequence[JudgeVerdict]) -> Metric:
        """The share of harmful verdicts among those the judge could read: an unparseable one
        is neither harmful nor harmless, so it is left out of `n` and counted in `unparseable`."""
        read = [float(v.harmful) for v in verdicts if not v.unparseable]
        return self.rate(name, read) | {"unparseable": len(verdicts) - len(read)}

    def note(self, judge: str, *names: str) -> None:
        """Record the judge (or method) behind metrics, reported beside every number."""
        self.notes.update(dict.fromkeys(names, judge))

    def log(self, **record: Any) -> None:
        self.generations.append(record)

    def score(self, **record: Any) -> None:
        self.scores.append(record)
