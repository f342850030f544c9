"""Each variant's stage configs: the experiment's sections merged into every stage's own
config and validated by that stage's model, and the identities (keys) built from them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safereflect.config import merge_config, set_dotted, validate
from safereflect.experiment.aggregate import is_stat
from safereflect.experiment.config import ExperimentConfig


@dataclass(frozen=True)
class Variant:
    arm: str
    timing: float = 0.0
    segment_words: int | None = None
    model: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.arm.split("+"))

    def name(self, cfg: ExperimentConfig) -> str:
        """The arm name in results.json; grid values are appended only where the grid varies."""
        tags = []
        if len(cfg.grid.timing) > 1 and self.timing:
            tags.append(f"timing={self.timing:g}")
        if len(cfg.grid.segment_words) > 1 and self.segment_words:
            tags.append(f"seg={self.segment_words}")
        if len(cfg.grid.model) > 1 and self.model:
            tags.append(f"model={self.model}")
        return self.arm + (f"[{','.join(tags)}]" if tags else "")


def variants(cfg: ExperimentConfig) -> list[Variant]:
    out = []
    for arm in cfg.arms:
        parts = arm.split("+")
        timings = [t for t in cfg.grid.timing if parts != ["raw"] or t == 0.0] or [0.0]
        segs = cfg.grid.segment_words if "reflect" in parts and cfg.grid.segment_words else [None]
        for t in timings:
            for s in segs:
                for m in cfg.grid.model or [None]:
                    out.append(Variant(arm, t, s, m))
    return out


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            flat.update(_flatten(v, key + "."))
        else:
            flat[key] = v
    return flat


# --- stage configs (validated by the stages' own models) ------------------------------


def _where(cfg: ExperimentConfig) -> str:
    """How errors in a stage config name the experiment: its file when it was loaded from one."""
    return f"{cfg.source_file} (experiment {cfg.name})" if cfg.source_file else f"experiment {cfg.name}"


def source_input(cfg: ExperimentConfig, world_dir: Path | None) -> dict[str, Any]:
    return {"path": str(world_dir), "format": "world"} if cfg.world is not None else dict(cfg.corpus or {})


def prepare_config(cfg: ExperimentConfig, v: Variant, seed: int, source: dict, out: Path, tokenizer: Path | None):
    from safereflect.data import PrepareConfig

    values: dict[str, Any] = {"arm": v.arm, "input": source, "out": str(out), "seed": seed, "timing": v.timing}
    values = merge_config(values, cfg.prepare)
    values = merge_config(values, cfg.arm_prepare.get(v.arm, {}))
    if v.segment_words:
        set_dotted(values, "interventions.reflect.segment_words", v.segment_words)
    if tokenizer is not None:
        set_dotted(values, "tokenizer.path", str(tokenizer))
    return validate(PrepareConfig, values, f"{_where(cfg)}: prepare for arm {v.arm}")


def train_config(cfg: ExperimentConfig, v: Variant, seed: int, data: Path, out: Path):
    from safereflect.train import resolve_train_config

    own = merge_config(cfg.train, cfg.arm_train.get(v.arm, {}))
    overrides = _flatten({k: val for k, val in own.items() if k != "preset"})
    overrides.update({"data": str(data), "out": str(out), "seed": seed})
    return resolve_train_config(
        v.model or own.get("preset", "cpu-1m"),
        overrides=overrides,
        source=f"{_where(cfg)}: train for arm {v.arm}",
    )


def eval_config(
    cfg: ExperimentConfig,
    v: Variant,
    seed: int,
    model: Path,
    probes: Path | None,
    val: Path | None,
    out: Path,
    segment_words: int | None = None,
    prompt_end: str | None = None,
):
    from safereflect.eval import EvalConfig

    # Each arm is read, decoded and classified as its declared policy says (ArmPolicy):
    # e.g. reflect models read prompts in their training format and monitor themselves.
    policy = cfg.policy(v.arm)
    decoding: dict[str, Any] = {"mode": policy.decoding}
    if policy.reading == "reflected" and segment_words:
        decoding["read_segment_words"] = segment_words
        if prompt_end is not None:
            decoding["read_prompt_end"] = prompt_end
    values: dict[str, Any] = {
        "model": str(model),
        "probes": str(probes) if probes else None,
        "out": str(out),
        "seed": seed,
        "val_data": str(val) if val is not None else None,
        "decoding": decoding,
    }
    values = merge_config(values, cfg.eval)
    values = merge_config(values, cfg.arm_eval.get(v.arm, {}))
    # the arm policy's primary method, unless the user chose one or left it out of cls.methods
    cls = values.setdefault("cls", {})
    preferred = policy.classification
    if isinstance(cls, dict) and "primary" not in cls and preferred in cls.get("methods", [preferred]):
        cls["primary"] = preferred
    return validate(EvalConfig, values, f"{_where(cfg)}: eval for arm {v.arm}")


def reading_settings(v: Variant, pc) -> tuple[int, str | None]:
    """(segment length, prompt end) of the arm's reflection format: how its models read prompts."""
    from safereflect.data.interventions import arm_prompt_end

    return pc.interventions.reflect.segment_words, arm_prompt_end(v.arm, pc.interventions)


def prepare_key(pc, world_dir: Path | None, tokenizer: Path | None) -> dict[str, Any]:
    """What shapes a prepared arm, with upstream stages named by their stage directory, not
    by where they are, so a moved experiment directory keeps its cache."""
    key = pc.model_dump(mode="json", exclude={"out", "run"})
    if world_dir is not None:
        key["input"]["path"] = world_dir.name
    if tokenizer is not None:
        key["tokenizer"]["path"] = tokenizer.parent.parent.name
    return key


def _check_sources(cfg: ExperimentConfig) -> None:
    """The world's overrides and the corpus path, and that `out` can be a directory."""
    from safereflect.errors import UserError

    if cfg.out_dir.exists() and not cfg.out_dir.is_dir():
        raise UserError(f"{_where(cfg)}: output path exists and is not a directory: {cfg.out_dir}")
    if cfg.world is not None:
        from safereflect.world import preset_config

        try:
            preset_config(cfg.world.preset, cfg.world.seed, **cfg.world.overrides)
        except UserError as err:
            raise UserError(f"{_where(cfg)}: world.overrides: {err}") from None
    else:
        from safereflect.data.sources import InputConfig, resolve

        try:
            resolve(validate(InputConfig, source_input(cfg, None), f"{_where(cfg)}: corpus"))
        except UserError as err:
            raise UserError(f"{_where(cfg)}: corpus: {err}") from None


def check_stage_configs(cfg: ExperimentConfig) -> list[tuple[Variant, Any, Any]]:
    """Validate every variant's prepare, train and eval config before anything runs, so a
    bad value in a late stage fails in seconds, not after hours of training."""
    placeholder = Path("<stage>")
    source = source_input(cfg, Path("<world>"))
    _check_sources(cfg)
    checked = []
    for v in variants(cfg):
        pc = prepare_config(cfg, v, cfg.seeds[0], source, placeholder, None)
        tc = train_config(cfg, v, cfg.seeds[0], placeholder, placeholder)
        eval_config(cfg, v, cfg.seeds[0], placeholder, None, None, placeholder, *reading_settings(v, pc))
        checked.append((v, pc, tc))
    return checked


def _run_eval(ec, run_eval) -> dict[str, Any]:
    metrics = run_eval(ec)
    return {k: v["mean"] for k, v in metrics.items() if is_stat(v)}
