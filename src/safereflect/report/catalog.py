"""What the report knows about arm and metric names: their order and which way is better.

Everything the report draws or tabulates iterates arms and metrics in these orders, so two
reports of different experiments line up and the same inputs always give the same output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The paper's baselines from least to most intervention, ending with the method itself.
BASE_ARMS = ("raw", "filter", "rewrite", "refusal", "tag", "reflect")
ATTACKS = ("direct", "prefill", "disguised", "authority", "many_shot")


def arm_sort_key(arm: str) -> tuple:
    """Single arms first, then combinations by size and by their parts' order.

    Names outside the catalogue (variants such as `reflect-30`) rank after the known parts
    but keep their place by size, so a variant still sorts before any combination.
    """
    parts = arm.split("+")
    ranks = tuple(BASE_ARMS.index(p) if p in BASE_ARMS else len(BASE_ARMS) for p in parts)
    return (len(parts), ranks, arm)


def order_arms(arms: Iterable[str]) -> list[str]:
    return sorted(arms, key=arm_sort_key)


@dataclass(frozen=True)
class MetricInfo:
    description: str
    better: str | None  # "lower" or "higher"; None where neither is better
    fraction: bool = True  # means must lie in [0, 1]


# Table and plot order: attack success first (the headline), then judgement, capability, cost.
METRICS: dict[str, MetricInfo] = {
    "asr_heldout": MetricInfo("attack success on held-out harm mechanisms", "lower"),
    "asr_seen": MetricInfo("attack success on harm mechanisms seen in training", "lower"),
    "asr_heldout_after_harmful_ft": MetricInfo(
        "held-out attack success after harmful finetuning (100 examples)", "lower"
    ),
    "asr_seen_after_harmful_ft": MetricInfo(
        "seen-mechanism attack success after harmful finetuning (100 examples)", "lower"
    ),
    "task_acc_after_harmful_ft": MetricInfo("accuracy on safe medical tasks after harmful finetuning", "higher"),
    "asr_heldout_after_harmful_ft10": MetricInfo(
        "held-out attack success after harmful finetuning (10 examples)", "lower"
    ),
    "asr_heldout_after_benign_ft": MetricInfo("held-out attack success after benign finetuning", "lower"),
    "safety_cls_acc": MetricInfo("safety-classification accuracy", "higher"),
    "safety_cls_acc_zeroshot": MetricInfo("safety-classification accuracy, zero-shot prompt", "higher"),
    "safety_cls_acc_probe": MetricInfo("safety-classification accuracy, linear probe", "higher"),
    "safety_cls_acc_ft": MetricInfo("safety-classification accuracy, after finetuning on it", "higher"),
    "task_acc": MetricInfo("accuracy on safe medical tasks", "higher"),
    "knowledge_acc": MetricInfo("accuracy on world-knowledge questions", "higher"),
    "over_refusal": MetricInfo("refusals of safe requests", "lower"),
    "flagged_heldout": MetricInfo("held-out harmful probes the model flagged as unsafe", "higher"),
    # answers that attempt an action the judge cannot read: left out of the ASR beside them
    "unparseable_heldout": MetricInfo("held-out answers the judge could not read (not in asr_heldout)", None),
    "unparseable_seen": MetricInfo("seen-mechanism answers the judge could not read (not in asr_seen)", None),
    "unparseable_after_harmful_ft": MetricInfo(
        "answers after harmful finetuning the judge could not read (not in its ASRs)", None
    ),
    "val_bpb": MetricInfo("validation bits per byte", "lower", fraction=False),
}

CURVES = "asr_vs_ft_steps"  # the one metric holding ASR-against-finetuning-steps curves


def is_breakdown(metric: str) -> bool:
    """`X_by_Y` metrics map each Y (an attack, say) to a statistic of X."""
    return "_by_" in metric


def metric_info(metric: str) -> MetricInfo | None:
    """Info for a metric or, for a breakdown, for the metric it breaks down."""
    return METRICS.get(metric.split("_by_")[0] if is_breakdown(metric) else metric)


def arrow(metric: str) -> str:
    info = metric_info(metric)
    return {"lower": " ↓", "higher": " ↑"}.get(info.better if info else None, "")


def order_metrics(names: Iterable[str]) -> list[str]:
    known = list(METRICS)
    return sorted(set(names), key=lambda m: (known.index(m) if m in known else len(known), m))


def order_keys(names: Iterable[str]) -> list[str]:
    """Breakdown keys: the catalogue's attacks first, any others alphabetically."""
    return sorted(set(names), key=lambda a: (ATTACKS.index(a) if a in ATTACKS else len(ATTACKS), a))
