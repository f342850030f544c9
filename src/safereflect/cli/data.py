"""`safereflect prepare`, `safereflect inspect` and `safereflect scorer train`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from safereflect.console import out as stdout

scorer_app = typer.Typer(help="Scorers that label documents Safe / Controversial / Unsafe.", no_args_is_help=True)


def _overrides(**flags: Any) -> dict[str, Any]:
    """Dotted config keys for the flags that were given."""
    return {key.replace("__", "."): value for key, value in flags.items() if value is not None}


def _nest(dotted: dict[str, Any]) -> dict[str, Any]:
    from safereflect.config import set_dotted

    data: dict[str, Any] = {}
    for key, value in dotted.items():
        set_dotted(data, key, value)
    return data


def prepare(
    arm: str | None = typer.Option(
        None, "--arm", help="raw, filter, rewrite, refusal, tag, reflect, or several joined with +"
    ),
    input: str | None = typer.Option(
        None, "--input", help="JSONL/Parquet file or directory, a world directory, or a HF dataset"
    ),
    out: Path | None = typer.Option(None, "--out", help="output directory"),
    config: Path | None = typer.Option(
        None, "--config", help="YAML file with PrepareConfig settings; flags win over it"
    ),
    workers: int | None = typer.Option(None, "--workers", help="tasks run at once (does not change the output)"),
    skip_bad: bool | None = typer.Option(
        None, "--skip-bad", help="exclude bad input records (counted) instead of stopping"
    ),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="existing tokenizer to share, e.g. another arm's DIR/tokens/tokenizer"
    ),
    segment_words: int | None = typer.Option(None, "--segment-words", help="reflect: most words between reflections"),
    after_unsafe: str | None = typer.Option(None, "--after-unsafe", help="reflect: end, noise or continue"),
    scorer: str | None = typer.Option(
        None, "--scorer", help="scorer the arm acts on (oracle, keyword, classifier, embedding, llm)"
    ),
    timing: float | None = typer.Option(
        None, "--timing", help="share of training tokens before intervened data starts, e.g. 0.2"
    ),
    seed: int | None = typer.Option(None, "--seed"),
    tasks: int | None = typer.Option(None, "--tasks", help="datatrove tasks (output files)"),
    executor: str | None = typer.Option(None, "--executor", help="local, slurm or ray"),
    force: bool = typer.Option(False, "--force", help="replace an output directory that holds a different prepare"),
) -> None:
    """Transform a corpus with one arm and write documents, exclusions, token shards and stats.

    Writes DIR/docs/*.jsonl, DIR/excluded/*.jsonl, DIR/tokens/ and DIR/stats.json.

    Rerunning the same command skips finished work.

    Examples:

      safereflect prepare --arm reflect --input worlds/small --out runs/reflect

      safereflect prepare --arm filter+reflect --input worlds/small --out runs/fr --tokenizer runs/reflect/tokens/tokenizer

      safereflect prepare --arm rewrite+refusal+tag+filter --input data.jsonl --out runs/safelm --skip-bad --workers 2

      safereflect prepare --config configs/fineweb_reflect.yaml --timing 0.2
    """
    from safereflect.config import load_config, validate
    from safereflect.data import PrepareConfig, run_prepare

    flags = _overrides(
        arm=arm,
        input__path=input,
        out=str(out) if out else None,
        run__workers=workers,
        skip_bad=skip_bad,
        tokenizer__path=tokenizer,
        interventions__reflect__segment_words=segment_words,
        interventions__reflect__after_unsafe=after_unsafe,
        scorer=scorer,
        timing=timing,
        seed=seed,
        tasks=tasks,
        run__executor=executor,
    )
    cfg = (
        load_config(PrepareConfig, config, flags)
        if config is not None
        else validate(PrepareConfig, _nest(flags), "command line")
    )
    run_prepare(cfg, force=force)


def inspect(
    directory: Path = typer.Argument(..., help="a prepare output directory"),
    n: int = typer.Option(5, "--n", min=1, help="documents to show"),
    unsafe_only: bool = typer.Option(False, "--unsafe-only", help="only documents that came in unsafe"),
) -> None:
    """Show prepared documents with reflections (green safe, red unsafe), tags and noise highlighted.

    Examples:

      safereflect inspect runs/reflect

      safereflect inspect runs/reflect --unsafe-only --n 3
    """
    from safereflect.data.inspect import show

    show(directory, n=n, unsafe_only=unsafe_only)


@scorer_app.command("train")
def scorer_train(
    data: Path = typer.Option(
        ..., "--data", help='JSONL with {"text": ..., "label": ...} (labels: Safe/Controversial/Unsafe or 0-5)'
    ),
    model: str = typer.Option(..., "--model", help="sentence-embedding model (local directory or hub name)"),
    out: Path = typer.Option(..., "--out", help="directory for head.safetensors and head.json"),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="records held out to report accuracy and F1"),
    seed: int = typer.Option(0, "--seed"),
    max_length: int = typer.Option(256, "--max-length", help="tokens of each text the encoder sees"),
    pooling: str = typer.Option("mean", "--pooling", help="mean or cls"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Fit the linear head of the `embedding` scorer and report held-out accuracy and F1.

    Examples:

      safereflect scorer train --data labelled.jsonl --model thenlper/gte-base --out heads/gte

    Then use it with `scorers: {embedding: {kind: embedding, head: heads/gte}}` in a prepare config.
    """
    from rich.table import Table

    from safereflect.data.scorer_training import train_head
    from safereflect.errors import UserError

    if pooling not in ("mean", "cls"):
        raise UserError(f"--pooling must be mean or cls (got {pooling!r})")
    metrics = train_head(
        data, model, out, val_fraction=val_fraction, seed=seed, max_length=max_length, pooling=pooling, device=device
    )
    table = Table(title=f"held-out ({metrics['val_size']} records)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("accuracy", f"{metrics['accuracy']:.3f}")
    table.add_row("F1 (macro)", f"{metrics['f1_macro']:.3f}")
    for name, f1 in metrics["f1_per_class"].items():
        table.add_row(f"F1 {name}", f"{f1:.3f}")
    stdout.print(table)
    stdout.print(f"head saved to {out}")


def register(app: typer.Typer) -> None:
    app.command("prepare")(prepare)
    app.command("inspect")(inspect)
    app.add_typer(scorer_app, name="scorer")
