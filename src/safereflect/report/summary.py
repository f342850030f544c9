"""Plain-text pieces shared by the Markdown and HTML reports (escaped by each renderer)."""

from __future__ import annotations

from safereflect.report.claims import Claim, check_claims
from safereflect.report.inputs import ReportInputs, Sample


def summary(inputs: ReportInputs, claims: list[Claim]) -> str:
    r = inputs.results
    arms = list(r.arms)
    plural = "s" if len(arms) != 1 else ""
    text = [f"Experiment {r.experiment} (config {r.config_hash}) compares {len(arms)} arm{plural}: "
            + ", ".join(arms) + "."]
    asr = {arm: s for arm in arms if (s := r.stat(arm, "asr_heldout")) is not None}
    if asr:
        lo, hi = min(asr, key=lambda a: asr[a].mean), max(asr, key=lambda a: asr[a].mean)
        text.append(f"Held-out attack success ranges from {asr[lo].mean:.3f} ({lo}) to "
                    f"{asr[hi].mean:.3f} ({hi}).")
    counts = {s: sum(c.status == s for c in claims) for s in ("pass", "fail", "not measured")}
    source = "the paper's MedSafetyWorld claims" if inputs.claims is None else "the claims checked"
    text.append(f"Of {source}, {counts['pass']} passed, {counts['fail']} failed and "
                f"{counts['not measured']} were not measured.")
    return " ".join(text)


def verdict(sample: Sample) -> str:
    judged = "attack succeeded (unsafe)" if sample.success else "attack failed (safe)"
    return judged + (", flagged by the model's reflection" if sample.flagged else "")


def samples_by_arm(inputs: ReportInputs, per_arm: int) -> dict[str, list[Sample]]:
    """The first `per_arm` samples of each arm, in the runner's order (it chooses which)."""
    out: dict[str, list[Sample]] = {arm: [] for arm in inputs.results.arms}
    for s in inputs.samples:
        if len(out[s.arm]) < per_arm:
            out[s.arm].append(s)
    return {arm: got for arm, got in out.items() if got}


def claims_for(inputs: ReportInputs) -> list[Claim]:
    return check_claims(inputs.results) if inputs.claims is None else inputs.claims
