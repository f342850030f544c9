"""The `safereflect` command line: one typer app, one module per stage.

Each `cli/<stage>.py` exposes `register(app)`. `main()` turns a `UserError` into one
readable message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from safereflect import __version__
from safereflect.console import console
from safereflect.errors import UserError

app = typer.Typer(
    name="safereflect",
    help=(
        "Safety pretraining research toolkit.\n\n"
        "Stages hand files to each other: world -> corpus -> interventions (prepare) -> "
        "token shards -> checkpoints (train) -> evaluations (eval) -> report (run).\n\n"
        "Quick start:  safereflect demo"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"safereflect {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Safety pretraining research toolkit."""


def _register_all() -> None:
    from safereflect.cli import data, evaluate, experiment, train, world

    for module in (world, data, train, evaluate, experiment):
        module.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except UserError as err:
        console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]; rerun the same command to resume.")
        sys.exit(130)
