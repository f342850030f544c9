"""`safereflect world`: generate a MedSafetyWorld (rules, corpus, probes, card)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markdown import Markdown

from safereflect.console import console, out


class Preset(str, Enum):
    tiny = "tiny"
    small = "small"
    medium = "medium"


def world(
    preset: Preset = typer.Option(
        Preset.small, "--preset", help="World size: tiny (tests), small (CPU demo), medium (GPU)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed; same preset and seed give byte-identical files."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory (created if needed)."),
    config: Path | None = typer.Option(None, "--config", help="YAML with WorldConfig fields overriding the preset."),
    show_card: bool = typer.Option(True, "--card/--no-card", help="Print the world card when done."),
) -> None:
    """Generate a MedSafetyWorld: DIR/world.json, DIR/corpus/*.jsonl, DIR/probes/*.jsonl, DIR/world_card.md.

    Examples:

      safereflect world --preset tiny --seed 0 --out runs/world-tiny

      safereflect world --preset small --seed 1 --out runs/world-small --no-card
    """
    from safereflect.config import load_yaml
    from safereflect.errors import UserError
    from safereflect.world import preset_config, write_world

    overrides = {}
    if config is not None:
        overrides = load_yaml(config)
        if not isinstance(overrides, dict):
            raise UserError(f"{config}: the top level must be a mapping of WorldConfig keys")
        overrides.pop("preset", None), overrides.pop("seed", None)
    cfg = preset_config(preset.value, seed, **overrides)
    with console.status(f"generating the {preset.value} world (seed {seed})"):
        summary = write_world(cfg, out_dir)
    if show_card:
        out.print(Markdown(summary["card"]))
    console.print(
        f"[green]wrote[/] {out_dir}: {summary['documents']} documents ({summary['unsafe']} unsafe, "
        f"{summary['words']:,} words), probes {sum(summary['probes'].values())}"
    )


def register(app: typer.Typer) -> None:
    app.command("world")(world)
