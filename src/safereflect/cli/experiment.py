"""`safereflect run` (any experiment YAML) and `safereflect demo` (the built-in one)."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

import typer

from safereflect.console import console, out

PRESETS = {"cpu": "demo.yaml", "gpu": "gpu.yaml"}


def load_experiment(path: Path | str, overrides: dict | None = None):
    """The experiment in a YAML file, or in an experiment's output directory (its
    experiment.json, written by every run), so `safereflect run runs/NAME` resumes it."""
    from safereflect.config import load_config
    from safereflect.errors import UserError
    from safereflect.experiment import ExperimentConfig

    path = Path(str(path))
    if path.is_dir():
        if not (path / "experiment.json").is_file():
            yamls = sorted(p.name for p in path.glob("*.y*ml"))
            raise UserError(
                f"{path} is a directory, not an experiment file",
                hint=f"give one of its YAML files ({', '.join(yamls)})"
                if yamls
                else "give the experiment YAML, or the output directory of a run (with experiment.json)",
            )
        path = path / "experiment.json"
    cfg = load_config(ExperimentConfig, path, overrides)
    cfg._source_file = str(path)
    return cfg


def dry_run(cfg, device: str) -> None:
    """Validate every stage config and print the grid, token budget and time estimate."""
    from rich.table import Table

    from safereflect.experiment.runner import check_stage_configs
    from safereflect.train.plan import RunPlan, estimate_seconds
    from safereflect.train.shapes import resolve_shape

    checked = check_stage_configs(cfg)
    table = Table(title=f"experiment {cfg.name}: {len(checked)} variants x {len(cfg.seeds)} seeds")
    for col in ("arm", "model", "params", "tokens", "est. time"):
        table.add_column(col)
    total_s = total_tokens = 0.0
    for v, pc, tc in checked:
        vocab = pc.tokenizer.vocab_size if pc.tokenizer.path is None else 50_000
        shape = resolve_shape(tc.model, vocab_size=vocab, seq_len=tc.seq_len)
        plan = RunPlan(tc, None, shape)  # type: ignore[arg-type]  # the estimate needs no shards
        seconds, assumption = estimate_seconds(plan, device)
        total_s += seconds * len(cfg.seeds)
        total_tokens += plan.total_tokens * len(cfg.seeds)
        table.add_row(
            v.name(cfg),
            tc.preset or "-",
            f"{shape.total_params / 1e6:.1f}M",
            f"{plan.total_tokens:,}",
            f"{seconds / 3600:.2f} h",
        )
    out.print(table)
    out.print(
        f"total training tokens {total_tokens:,.0f}; estimated {total_s / 3600:.1f} device-hours on {device} "
        f"({assumption}); evaluation and finetuning attacks come on top."
    )
    console.print("[green]configuration valid[/]")


LAUNCHERS = ("inprocess", "local", "slurm")


def _deps(deps: list[str]) -> str:
    """What a job waits for, short: an evaluation's attacks counted, a long list by kind."""
    attacks = [d for d in deps if "/attack-" in d]
    rest = [d for d in deps if d not in attacks]
    kinds = {d.split("/")[0] for d in rest}
    shown = ", ".join(rest) if len(rest) <= 3 or len(kinds) > 1 else f"{len(rest)} {kinds.pop()} jobs"
    if attacks:
        shown += f" and {len(attacks)} attack{'s' if len(attacks) > 1 else ''}"
    return shown


def print_job_graph(cfg, states: dict[str, str] | None = None, launcher: str | None = None) -> None:
    """The launcher's jobs: each stage, what it waits for, what it asks for, and its state.
    `launcher`: the graph's shape (a Slurm prepare may be three jobs); by default that of the
    run's last launch."""
    from rich.table import Table

    from safereflect.experiment.launch import job_graph, ledger_launcher, read_ledger, stage_states

    jobs, runs = job_graph(cfg, launcher or ledger_launcher(cfg.out_dir))
    ledger = read_ledger(cfg.out_dir)
    states = states or stage_states(cfg, jobs, runs, ledger)
    table = Table(title=f"experiment {cfg.name}: {len(jobs)} jobs ({cfg.out_dir})")
    for col in ("stage", "depends on", "nodes x GPUs", "processes", "CPUs", "mem", "time", "partition"):
        table.add_column(col)
    table.add_column("state", overflow="fold")  # a failed job's log path is wrapped, never cut
    colour = {"done": "green", "failed": "red", "running": "cyan", "queued": "yellow"}
    for job in jobs:
        r = job.resources
        deps = _deps(job.deps)
        state = states[job.id]
        entry = ledger.get(job.id)
        if entry and state in ("queued", "running", "unknown", "failed"):
            state += f" (job {entry['job_id']})" + (f": {entry['stderr']}" if state == "failed" else "")
        table.add_row(
            job.id,
            deps or "-",
            f"{r.nodes} x {r.gpus_per_node}",
            f"{job.tasks} (array)" if job.part == "tasks" else str(job.processes),
            str(r.cpus),
            f"{r.mem_gb:g} GB" if r.mem_gb else "-",
            f"{r.time_min} min" if r.time_min else "-",
            r.partition or "-",
            f"[{colour.get(states[job.id], 'white')}]{state}[/]",
        )
    out.print(table)


def run(
    experiment: Path = typer.Argument(..., help="Experiment YAML (see configs/ and docs/experiments.md)."),
    force: bool = typer.Option(False, "--force", help="Recompute every stage instead of reusing finished ones."),
    parallel: int = typer.Option(
        1, "--parallel", min=1, help="Variant pipelines (inprocess) or jobs (local) run at once."
    ),
    dry: bool = typer.Option(False, "--dry-run", help="Validate everything and print the plan; run nothing."),
    device: str = typer.Option("cpu", "--device-name", help="For --dry-run estimates: cpu, h100, h200, a100, ..."),
    launcher: str = typer.Option(
        "inprocess",
        "--launcher",
        help="inprocess (this process), local (a submitit job per stage on this "
        "machine) or slurm (every stage submitted as a Slurm job, chained by dependencies).",
    ),
) -> None:
    """Run an experiment: world -> prepare -> train -> eval for every arm and seed, then results.json and a report.

    Finished stages are skipped; a killed run resumes where it stopped.

    Examples:

      safereflect run configs/timing.yaml

      safereflect run configs/fineweb-1.7b.yaml --dry-run --device-name h100

      safereflect run configs/fineweb-1.7b.yaml --launcher slurm   # then: safereflect status runs/NAME
    """
    from safereflect.errors import UserError

    if launcher not in LAUNCHERS:
        raise UserError(f"unknown launcher {launcher!r} (allowed: {', '.join(LAUNCHERS)})")
    cfg = load_experiment(experiment)
    if dry:
        dry_run(cfg, device)
        if launcher != "inprocess":
            print_job_graph(cfg, launcher=launcher)
        return
    if launcher == "inprocess":
        from safereflect.experiment import run_experiment

        run_experiment(cfg, force=force, parallel=parallel)
        return
    from safereflect.experiment.launch import launch
    from safereflect.experiment.runner import check_stage_configs
    from safereflect.jsonl import ensure_writable_dir, write_json

    check_stage_configs(cfg)
    write_json(ensure_writable_dir(cfg.out_dir) / "experiment.json", cfg.model_dump(mode="json"))
    states = launch(cfg, launcher, force=force, parallel=parallel)
    print_job_graph(cfg, states, launcher)
    failed = [k for k, v in states.items() if v == "failed"]
    if failed:
        raise UserError(
            f"{len(failed)} stage(s) failed: {', '.join(failed)}",
            hint="their logs are named above; fix the cause and rerun the same command",
        )
    if launcher == "slurm":
        console.print(f"[green]submitted[/]; follow it with `safereflect status {cfg.out_dir}`")
    else:
        console.print(f"[green]done[/]: {cfg.out_dir / 'results.json'}, {cfg.out_dir / 'report.html'}")


def status(run_dir: Path = typer.Argument(..., help="An experiment's output directory (with experiment.json).")):
    """Each stage's state: done, queued, running, failed (with its log) or not submitted.

    Reads the stages' completion records, the launcher's job ledger (jobs.json) and, for
    submitted jobs, what Slurm (sacct) or the local process says.

    Example:

      safereflect status runs/fineweb-1.7b
    """
    print_job_graph(load_experiment(run_dir))


def demo(
    preset: str = typer.Option(
        "cpu", "--preset", help="cpu (the 2-core demo) or gpu (medium world, 3 seeds, all arms)."
    ),
    seeds: int = typer.Option(
        0, "--seeds", min=0, help="Number of seeds, each its own world and models (0: the preset's, 3 for cpu)."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="One seed only: a few minutes, numbers without a verdict (one seed decides nothing)."
    ),
    out_dir: Path | None = typer.Option(None, "--out", help="Output directory (default runs/<name>)."),
    force: bool = typer.Option(False, "--force", help="Recompute every stage."),
    dry: bool = typer.Option(False, "--dry-run", help="Validate and print the plan only."),
    parallel: int = typer.Option(
        0,
        "--parallel",
        min=0,
        help="Pipelines at once, each with its share of the cores (0: one per core, at most 2, for cpu; 1 for gpu).",
    ),
) -> None:
    """The built-in MedSafetyWorld experiment: raw, filter, rewrite, tag and reflect arms over three seeds
    (three worlds), with the paper's six claims decided by paired statistics.

    Examples:

      safereflect demo

      safereflect demo --quick

      safereflect demo --preset gpu
    """
    from safereflect.errors import UserError

    if preset not in PRESETS:
        raise UserError(f"unknown demo preset {preset!r} (allowed: {', '.join(PRESETS)})")
    overrides: dict = {}
    if quick and seeds:
        raise UserError("--quick runs one seed; do not combine it with --seeds")
    if seeds or quick:
        overrides["seeds"] = list(range(seeds or 1))
    if out_dir is not None:
        overrides["out"] = str(out_dir)
    cfg = load_experiment(files("safereflect.experiment") / "presets" / PRESETS[preset], overrides)
    cfg._source_file = None  # errors name the demo, not a file inside the package
    if dry:
        dry_run(cfg, "cpu" if preset == "cpu" else "h100")
        return
    from safereflect.experiment import run_experiment

    # the demo's 1M-parameter models use one core poorly: two single-threaded pipelines train
    # ~1.6x the tokens of one two-threaded pipeline on the 2-core machine (BENCHMARKS.md); a
    # pipeline is one arm of one seed, so `--quick` (one seed, five arms) gains as well
    workers = parallel or (min(2, os.cpu_count() or 1) if preset == "cpu" else 1)
    run_experiment(cfg, force=force, parallel=workers)


def compare(
    runs: list[Path] = typer.Argument(..., help="Two or more results.json files or experiment directories."),
) -> None:
    """Claims of several experiments side by side: each run's verdict, the comparison that decided it
    (effect and 95% interval against its test) and the numerics its models trained under.

    For the same experiment on two machines or kernel sets, it shows which claims turn and how
    far each run sat from its bound.

    Example:

      safereflect compare runs/demo runs/demo-avx2
    """
    from safereflect.errors import UserError
    from safereflect.report.compare import load_run, print_comparison

    if len(runs) < 2:
        raise UserError("compare needs at least two runs")
    print_comparison([load_run(p) for p in runs])


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
    app.command("status")(status)
    app.command("compare")(compare)
