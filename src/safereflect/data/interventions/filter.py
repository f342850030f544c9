"""`filter`: documents scored at or above a threshold are dropped (SafeLM's safe-only data,
Deep Ignorance). Each dropped document goes to the exclusion file with its reason.

In a composed arm the filter is the safety net: documents another intervention handled
(rewritten, refused, tagged) stay; those it could not handle are dropped.
"""

from __future__ import annotations

from typing import Literal

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from pydantic import Field

from safereflect.config import StrictModel
from safereflect.data.documents import SR
from safereflect.data.interventions.base import ArmContext
from safereflect.data.labels import at_least, current_label, stored_score
from safereflect.data.sinks import ExcludedWriter


class FilterConfig(StrictModel):
    threshold: Literal["Controversial", "Unsafe"] | float = Field(
        "Unsafe", description="drop at or above this label, or at or above this numeric score"
    )


class SafetyFilter(BaseFilter):
    name = "filter"
    role = "filter"  # the part a filter-only arm plays in the claims (safereflect.policy)

    def __init__(self, cfg: FilterConfig, arm: ArmContext):
        super().__init__(exclusion_writer=ExcludedWriter(arm.excluded_dir, "filter"))
        self.cfg, self.arm = cfg, arm

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        record = doc.metadata.get(SR, {})
        if "transformed" in record or "tags" in record:
            return True
        key = self.arm.scorer.key
        label = current_label(doc, key)
        t = self.cfg.threshold
        if isinstance(t, str):
            drop = at_least(label, t)
        else:
            drop = stored_score(doc, key)["score"] >= t
        if not drop:
            return True
        reason = label.lower() if label != "Safe" else "score"
        doc.metadata["excluded_detail"] = (
            f"scorer {key}: {label}, score {stored_score(doc, key)['score']:g}, threshold {t}"
        )
        self.stat_update(f"sr/dropped/{reason}")
        return False, reason
