"""The experiment's stages as a graph: what each stage runs, under which identity, after which.

Each `Step` names its cache stage, its identity (`key`) and the function that builds its
output; its directory follows from these alone (`StageCache.path`), so the whole graph, with
every directory, is known before anything runs. The in-process runner runs the steps in
order; the launcher (`launch.py`) runs each as a job, after the jobs of its `deps`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safereflect.experiment.config import ExperimentConfig
from safereflect.experiment.stage_configs import (
    Variant,
    _run_eval,
    eval_config,
    prepare_config,
    prepare_key,
    reading_settings,
    source_input,
    train_config,
    variants,
)
from safereflect.experiment.stages import StageCache, content_hash


@dataclass
class Step:
    kind: str  # world, tokenizer, prepare, train, eval
    stage: str  # its cache directory: world, prepare, train, eval
    name: str
    key: Any
    run: Callable[[Path], Any] = field(repr=False)
    label: str  # what the progress line calls it
    seed: int
    variant: Variant | None = None
    deps: list[str] = field(default_factory=list)  # ids of the steps it reads (the last of a chain)
    prepare: Any = field(default=None, repr=False)  # tokenizer, prepare: the PrepareConfig (out: ".")
    evaluation: Any = field(default=None, repr=False)  # eval: the EvalConfig (out: ".")

    @property
    def attacks(self) -> list[str]:
        """The finetuning attacks of an evaluation (its `finetune` suite)."""
        ec = self.evaluation
        return list(ec.finetune.attacks) if ec is not None and "finetune" in ec.suites else []

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass
class SeedSources:
    world: Path | None
    tokenizer: Path
    val: Path
    steps: list[Step]


def seed_sources(cfg: ExperimentConfig, cache: StageCache, seed: int) -> SeedSources:
    """The world of `seed` (its own, unless `world.per_seed` is off) and the tokenizer and
    validation text prepared from that world's raw corpus."""
    from safereflect.data import run_prepare

    steps: list[Step] = []
    world_dir = None
    if cfg.world is not None:
        from safereflect.world import generator_fingerprint, preset_config, write_world

        world_seed = cfg.world.seed_for(seed)
        wc = preset_config(cfg.world.preset, world_seed, **cfg.world.overrides)
        # an edit of the generator changes the world under the same config: rebuild it then
        key = {"config": wc.model_dump(mode="json"), "generator": generator_fingerprint()}
        name = f"{cfg.world.preset}-w{world_seed}"
        steps.append(
            Step(
                "world",
                "world",
                name,
                key,
                lambda d: write_world(wc, d)["documents"],
                f"{cfg.world.preset} (world seed {world_seed})",
                seed,
            )
        )
        world_dir = cache.path("world", name, key)
    # One tokenizer per world for every arm (trained on its raw corpus), so arms differ only
    # in data; the raw corpus's validation split is every arm's bits-per-byte set.
    per_world = cfg.world is not None and cfg.world.per_seed
    base = prepare_config(
        cfg, Variant("raw"), seed if per_world else cfg.seeds[0], source_input(cfg, world_dir), Path("."), None
    )
    name = f"tokenizer-raw-w{cfg.world.seed_for(seed)}" if per_world else "tokenizer-raw"  # type: ignore[union-attr]
    key = prepare_key(base, world_dir, None)
    steps.append(
        Step(
            "tokenizer",
            "prepare",
            name,
            key,
            lambda d: run_prepare(base.model_copy(update={"out": d})).name,
            name,
            seed,
            deps=[s.id for s in steps],
            prepare=base,
        )
    )
    base_dir = cache.path("prepare", name, key)
    return SeedSources(world_dir, base_dir / "tokens" / "tokenizer", base_dir / "tokens", steps)


def pipeline(cfg: ExperimentConfig, cache: StageCache, v: Variant, seed: int, src: SeedSources) -> list[Step]:
    """prepare -> train -> eval of one variant and seed."""
    from safereflect.data import run_prepare
    from safereflect.eval import run_eval
    from safereflect.train import run_training

    label = f"{v.name(cfg)}-s{seed}"
    wd, tok = src.world, src.tokenizer
    pc = prepare_config(cfg, v, seed, source_input(cfg, wd), Path("."), tok)
    prep = Step(
        "prepare",
        "prepare",
        label,
        prepare_key(pc, wd, tok),
        lambda d: run_prepare(pc.model_copy(update={"out": d})).name,
        v.name(cfg),
        seed,
        v,
        [s.id for s in src.steps[-1:]],  # the tokenizer, which comes after the world
        pc,
    )
    prep_dir = cache.path(prep.stage, prep.name, prep.key)
    tc = train_config(cfg, v, seed, prep_dir, Path("."))
    train = Step(
        "train",
        "train",
        label,
        tc.identity() | {"data": content_hash(prep_dir.name)},
        lambda d: run_training(tc.model_copy(update={"out": d})).name,
        v.name(cfg),
        seed,
        v,
        [prep.id],
    )
    train_dir = cache.path(train.stage, train.name, train.key)
    final = train_dir / "final"  # derived from the stage dir, so a moved run directory still works
    ec = eval_config(cfg, v, seed, final, wd, src.val, Path("."), *reading_settings(v, pc))
    key = ec.identity() | {"train": train_dir.name}
    ev = Step(
        "eval",
        "eval",
        label,
        key,
        lambda d: _run_eval(ec.model_copy(update={"out": d}), run_eval),
        v.name(cfg),
        seed,
        v,
        [train.id],
        evaluation=ec,
    )
    return [prep, train, ev]


def experiment_steps(cfg: ExperimentConfig, cache: StageCache) -> tuple[list[Step], list[dict[str, Any]]]:
    """Every step of the experiment once (a world or tokenizer shared by seeds appears once),
    in an order that runs each after its dependencies, and the `runs` records (results.json's
    inputs) of every variant and seed."""
    steps: dict[str, Step] = {}
    runs = []
    sources = {s: seed_sources(cfg, cache, s) for s in cfg.seeds}
    for s in cfg.seeds:
        for step in sources[s].steps:
            steps.setdefault(step.id, step)
    for s in cfg.seeds:
        for v in variants(cfg):
            prep, train, ev = pipeline(cfg, cache, v, s, sources[s])
            for step in (prep, train, ev):
                steps.setdefault(step.id, step)
            runs.append(
                {
                    "variant": v.name(cfg),
                    "arm": v.arm,
                    "seed": s,
                    **{st.stage: str(cache.path(st.stage, st.name, st.key)) for st in (prep, train, ev)},
                }
            )
    return list(steps.values()), runs
