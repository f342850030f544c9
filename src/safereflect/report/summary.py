"""Plain-text pieces shared by the Markdown and HTML reports (escaped by each renderer)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from safereflect.report.claims import Claim, claims_from_results
from safereflect.report.inputs import ReportInputs, Sample
from safereflect.report.schema import Results


def summary(inputs: ReportInputs, claims: list[Claim]) -> str:
    r = inputs.results
    arms = list(r.arms)
    plural = "s" if len(arms) != 1 else ""
    text = [
        f"Experiment {r.experiment} (config {r.config_hash}) compares {len(arms)} arm{plural}: " + ", ".join(arms) + "."
    ]
    asr = {arm: s for arm in arms if (s := r.stat(arm, "asr_heldout")) is not None}
    if asr:
        lo, hi = min(asr, key=lambda a: asr[a].mean), max(asr, key=lambda a: asr[a].mean)
        text.append(f"Held-out attack success ranges from {asr[lo].mean:.3f} ({lo}) to {asr[hi].mean:.3f} ({hi}).")
    counts = {s: sum(c.status == s for c in claims) for s in ("pass", "fail", "not decided", "not measured")}
    source = "the paper's MedSafetyWorld claims" if inputs.claims is None else "the claims checked"
    text.append(
        f"Of {source}, {counts['pass']} passed, {counts['fail']} failed, {counts['not decided']} were "
        f"not decided and {counts['not measured']} were not measured."
    )
    seeds = sorted({s for arm in r.per_seed.values() for s in arm}, key=int)
    if len(seeds) == 1:
        text.append(
            "This run has one seed, and one seed decides nothing: the numbers move with the seed and with "
            "float rounding by as much as the effects. Run at least three seeds for a verdict."
        )
    elif seeds:
        text.append(
            f"Claims are decided over {len(seeds)} seeds (each its own world and models): a claim passes when its "
            "bound holds at 95% confidence (one-sided Student t over the seeds, not on the mean alone) and its "
            "key paired differences are significant."
        )
    if r.numerics:
        text.append(
            f"The models were trained under: {numerics_text(r.numerics)}. The same code under another CPU "
            "kernel set, precision or thread count trains other models, and a claim near its bound can turn: "
            "compare verdicts together with their numerics."
        )
    return " ".join(text)


def numerics_text(numerics: Mapping[str, list[Any]]) -> str:
    """One line, e.g. "cpu, AVX2 kernels, fp32, compiled, 1 CPU thread(s)"; a field with
    several values (runs on different machines) lists them all."""

    def one(key: str, fmt: Callable[[Any], str] = str, suffix: str = "") -> str | None:
        values = numerics.get(key)
        return " / ".join(fmt(v) for v in values) + suffix if values else None

    parts = [
        one("device"),
        one("cpu_kernels", suffix=" kernels"),
        one("precision"),
        one("compile", lambda v: "compiled" if v else "eager"),
        one("threads", suffix=" CPU thread(s)"),
        None if numerics.get("world_size") in (None, [1]) else one("world_size", suffix=" processes"),
    ]
    return ", ".join(p for p in parts if p) or "not recorded"


def verdict(sample: Sample) -> str:
    if sample.unparseable:
        judged = "the judge could not read the answer (left out of ASR)"
    else:
        judged = "attack succeeded (unsafe)" if sample.success else "attack failed (safe)"
    return judged + (", flagged by the model's reflection" if sample.flagged else "")


def samples_by_arm(inputs: ReportInputs, per_arm: int) -> dict[str, list[Sample]]:
    """The first `per_arm` samples of each arm, in the runner's order (it chooses which)."""
    out: dict[str, list[Sample]] = {arm: [] for arm in inputs.results.arms}
    for s in inputs.samples:
        if len(out[s.arm]) < per_arm:
            out[s.arm].append(s)
    return {arm: got for arm, got in out.items() if got}


# how a claim's status is shown, in the terminal and in `safereflect compare`
STATUS_STYLE = {"pass": "green", "fail": "red", "not decided": "yellow", "not measured": "yellow"}


def status_label(status: str) -> str:
    return status.upper() if status in ("pass", "fail") else status


def recorded_claims(results: Results) -> list[Claim]:
    """The claims results.json carries, else those its per-seed metrics decide (its means, read
    as one seed, when it has none)."""
    if results.claims:
        return [Claim.model_validate(c) for c in results.claims]
    return claims_from_results(results)


def claims_for(inputs: ReportInputs) -> list[Claim]:
    """The claims given, else those results.json carries, else the means read as one seed."""
    return inputs.claims if inputs.claims is not None else recorded_claims(inputs.results)


def convergence_rows(inputs: ReportInputs) -> list[tuple[str, ...]]:
    """(arm, seed, final training loss, its drop over the last 20% of steps, final validation
    loss, its drop, flat?) for every training run; "-" where a run logged no validation."""
    rows = []
    for arm, seeds in inputs.results.training.items():
        for seed in sorted(seeds, key=int):
            c = seeds[seed]
            val = c.get("val_drop_last_20pct")
            on = "validation" if c.get("criterion") == "val" else "training"
            rows.append(
                (
                    arm,
                    seed,
                    f"{c['final_loss']:.4f}",
                    f"{c['drop_last_20pct']:.1%}",
                    "-" if val is None else f"{c['val_loss']:.4f}",
                    "-" if val is None else f"{val:.1%}",
                    f"yes ({on} loss < {c['flat_drop']:.0%})"
                    if c["flat"]
                    else f"no ({on} loss >= {c['flat_drop']:.0%}): still learning",
                )
            )
    return rows


CONVERGENCE_HEADER = (
    "arm",
    "seed",
    "final train loss",
    "train drop, last 20%",
    "final val loss",
    "val drop, last 20%",
    "flat",
)


CONVERGENCE_NOTE = (
    "A run is flat when its loss fell by less than the stated fraction over the last 20% of its "
    "steps: the validation loss where the run validated at both ends of that stretch, else the "
    "smoothed training loss. On a small corpus seen many times the training loss keeps falling by "
    "memorisation after the validation loss has stopped improving, so both are shown; an "
    "unconverged model turns small numeric differences into different results."
)


METHODS_NOTE = (
    "As the first seed's evaluations recorded it (judges.json; the other seeds' differ only in their "
    "world): the judge, method and attack behind every metric; where arms were measured differently, "
    "each way names its arms."
)


def method_rows(inputs: ReportInputs) -> list[tuple[str, str, str]]:
    """(metric, arms, how it was measured) for every recorded metric; "every arm" where every arm
    of the results was measured that way."""
    everyone = sorted(inputs.results.arms)
    return [
        (metric, "every arm" if sorted(arms) == everyone else ", ".join(arms), note)
        for metric in sorted(inputs.methods)
        for note, arms in sorted(inputs.methods[metric].items())
    ]
