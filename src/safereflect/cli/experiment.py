"""`safereflect demo`: the built-in MedSafetyWorld experiment."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", help="Where the demo writes everything."),
    seed: int = typer.Option(0, "--seed", min=0, help="World seed."),
) -> None:
    """Run the demo: for now, generate the `small` MedSafetyWorld and print its card.

    Example:

      safereflect demo --out runs/demo
    """
    from safereflect.cli.world import Preset, world

    world(preset=Preset.small, seed=seed, out_dir=out_dir / "world", config=None, show_card=True)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
