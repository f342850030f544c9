"""The experiment's own progress line: which stage of which seed runs, and an ETA.

Stages show their own live bars (training: tokens/s, loss, ETA), and rich allows one live
display at a time, so the experiment announces each stage with a line instead: its place
in the whole run, the seed, the elapsed time and the time left. Each is one line however
narrow the terminal (rich writes a batch job's log 80 columns wide), so `grep` finds a stage
whole. The ETA adds, for every stage still to come, the mean time of the stages of its kind
that ran so far (a prior before any has), so it sharpens as the run goes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from safereflect.console import console

if TYPE_CHECKING:
    from safereflect.experiment.config import ExperimentConfig

# seconds per stage on the 2-core demo before any stage of the kind has run
PRIOR_SECONDS = {"world": 5.0, "tokenizer": 10.0, "prepare": 10.0, "train": 120.0, "eval": 60.0}
SKIPPED_BELOW = 1.0  # a cached stage returns at once; it says nothing about run times


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


class StageProgress:
    def __init__(self, cfg: ExperimentConfig, jobs: int, *, announce: bool = True) -> None:
        self.announce = announce
        per_seed = ["world", "tokenizer"] if cfg.world is not None else ["tokenizer"]
        self.remaining = [k for _ in cfg.seeds for k in per_seed] + ["prepare", "train", "eval"] * jobs
        self.total = len(self.remaining)
        self.seeds = len(cfg.seeds)
        self.done = 0
        self.start = time.time()
        self.observed: dict[str, list[float]] = {}

    def eta(self) -> float:
        def estimate(kind: str) -> float:
            seen = self.observed.get(kind)
            return sum(seen) / len(seen) if seen else PRIOR_SECONDS[kind]

        return sum(estimate(k) for k in self.remaining)

    @contextmanager
    def stage(self, kind: str, what: str, seed: int) -> Iterator[None]:
        if self.announce:
            self.done += 1
            console.print(
                f"[bold cyan][{self.done}/{self.total}][/] seed {seed} ({self.seeds} in all) · {kind} {what} · "
                f"{_clock(time.time() - self.start)} elapsed · eta ~{_clock(self.eta())}",
                soft_wrap=True,
            )
        began = time.time()
        yield
        took = time.time() - began
        if kind in self.remaining:
            self.remaining.remove(kind)
        if took >= SKIPPED_BELOW:
            self.observed.setdefault(kind, []).append(took)

    def pipeline_done(self, what: str, seed: int, seconds: float, workers: int) -> None:
        """Parallel runs: a whole prepare -> train -> eval pipeline finished in a worker. The ETA
        is the pipelines left times the mean pipeline time so far, over the workers."""
        for kind in ("prepare", "train", "eval"):
            if kind in self.remaining:
                self.remaining.remove(kind)
        self.done += 3
        if seconds >= SKIPPED_BELOW:
            self.observed.setdefault("pipeline", []).append(seconds)
        seen = self.observed.get("pipeline")
        left = self.remaining.count("train")  # pipelines still to run
        per = sum(seen) / len(seen) if seen else sum(PRIOR_SECONDS[k] for k in ("prepare", "train", "eval"))
        console.print(
            f"[bold cyan][{self.done}/{self.total}][/] seed {seed} ({self.seeds} in all) · {what} done "
            f"({workers} at once) · {_clock(time.time() - self.start)} elapsed · eta ~{_clock(left * per / workers)}",
            soft_wrap=True,
        )
