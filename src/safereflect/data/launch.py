"""Running a datatrove pipeline on the configured executor.

Local runs happen in a forked child process whose stdout and stderr go to the stage's log
file: datatrove logs every task at INFO level (and a traceback for any failure) to the
terminal, which would bury our progress bar and turn a user error into a wall of text. The
parent shows progress from the files the tasks write and turns a failure into one message.
Completion markers in the logging directory make a relaunch skip finished tasks.
Slurm and Ray runs use datatrove's executors as they are; Slurm returns once the job is
submitted, and a rerun of the same command picks up from the markers. The experiment
launcher (`safereflect run --launcher slurm`) submits the array itself, before the stages it
reads exist (`DeferredSlurmExecutor`), and merges in a job of its own (`submit=False`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.executor.base import PipelineExecutor
from datatrove.executor.slurm import SlurmPipelineExecutor

from safereflect.console import console, progress
from safereflect.data.config import RunConfig
from safereflect.data.progress import read_totals
from safereflect.errors import UserError


class StagePending(UserError):
    """Work was handed to a cluster scheduler; rerun the command when it has finished."""

    exit_code = 75  # EX_TEMPFAIL


def build_executor(pipeline: list, *, tasks: int, logging_dir: Path, run: RunConfig, name: str) -> PipelineExecutor:
    if run.executor == "local":
        from datatrove.executor.local import LocalPipelineExecutor

        # fork: the tasks inherit our loaded modules; the launching child has no threads yet
        return LocalPipelineExecutor(
            pipeline, tasks=tasks, workers=min(run.workers, tasks), logging_dir=str(logging_dir), start_method="fork"
        )
    if run.executor == "slurm":
        return SlurmPipelineExecutor(pipeline, **slurm_arguments(run, tasks=tasks, logging_dir=logging_dir, name=name))
    from datatrove.executor.ray import RayPipelineExecutor

    r = run.ray
    return RayPipelineExecutor(
        pipeline,
        tasks=tasks,
        workers=r.max_concurrent,
        logging_dir=str(logging_dir),
        cpus_per_task=r.cpus_per_task,
        mem_per_cpu_gb=r.mem_per_cpu_gb,
    )


def slurm_arguments(
    run: RunConfig, *, tasks: int, logging_dir: Path, name: str, partition: str | None = None
) -> dict[str, Any]:
    """SlurmPipelineExecutor's arguments from `run.slurm` (`partition`: the fallback when it
    names none). Without a venv to activate, the tasks run the Python that submitted them
    (its bin directory first on PATH, for datatrove's `launch_pickled_pipeline`), as submitit's
    jobs do."""
    s = run.slurm
    partition = s.partition or partition
    if not partition:
        raise UserError("executor slurm needs run.slurm.partition")
    sbatch_args = dict(s.sbatch_args)
    mem = s.mem_per_cpu_gb
    if mem != int(mem):  # datatrove writes f"{mem}G", and sbatch takes whole units only
        sbatch_args.setdefault("mem-per-cpu", f"{round(mem * 1024)}M")
    return {
        "tasks": tasks,
        "time": s.time,
        "partition": partition,
        "cpus_per_task": s.cpus_per_task,
        "mem_per_cpu_gb": int(mem),
        "workers": s.max_concurrent,
        "job_name": f"{s.job_name}-{name}",
        "qos": s.qos,
        "venv_path": s.venv_path,
        "env_command": None if s.venv_path else f"export PATH={Path(sys.executable).parent}:$PATH",
        "sbatch_args": sbatch_args,
        "logging_dir": str(logging_dir),
    }


class DeferredSlurmExecutor(SlurmPipelineExecutor):
    """datatrove's Slurm executor for a pipeline that each task builds when it starts, with
    `build()`: the experiment launcher submits the array (held by a dependency) before the
    world and tokenizer the pipeline reads exist, so it cannot build the pipeline itself.
    `build` must pickle by reference (a module-level function, or a partial of one)."""

    def __init__(self, build: Callable[[], list], **kwargs: Any):
        super().__init__([], **kwargs)
        self.build = build

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        if not self.pipeline:
            self.pipeline = self.build()
        return super()._run_for_rank(rank, local_rank, node_rank)


def _child(executor: PipelineExecutor, log: Path, error: Path) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 0
    try:
        executor.run()
    except BaseException as err:  # noqa: BLE001 - everything goes to the parent, which decides how to show it
        error.write_text(
            json.dumps({"user": isinstance(err, UserError), "message": str(err), "traceback": traceback.format_exc()})
        )
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_stage(
    executor: PipelineExecutor, *, label: str, stage_dir: Path, total: int | None, submit: bool = True
) -> None:
    """Run all of the executor's unfinished tasks; raise if any fails or is still pending.
    With `submit` off the tasks must have run already (a job that merges what an array job
    made): unfinished ones are an error, never run or submitted from here."""
    pending = executor.get_incomplete_ranks()
    if not pending:
        return
    if not submit:
        raise UserError(
            f"{label}: {len(pending)} of {executor.world_size} tasks did not finish "
            f"(task {pending[0]} first; their logs: {stage_dir / 'slurm_logs'}, {stage_dir / 'logs'})",
            hint="rerun the same command: it resubmits the unfinished tasks",
        )
    if not hasattr(executor, "start_method"):  # slurm, ray: their own processes and logs
        executor.run()
    else:
        _run_local(executor, label=label, stage_dir=stage_dir, total=total)
    pending = executor.get_incomplete_ranks()
    if pending:
        raise StagePending(
            f"{label}: {len(pending)} of {executor.world_size} tasks are not finished yet "
            f"(submitted to {type(executor).__name__})",
            hint="rerun the same command when they have finished; finished tasks are skipped",
        )


def _run_local(executor: PipelineExecutor, *, label: str, stage_dir: Path, total: int | None) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    log, error = stage_dir / "executor.log", stage_dir / "error.json"
    error.unlink(missing_ok=True)
    started = time.monotonic()
    child = multiprocessing.get_context("fork").Process(target=_child, args=(executor, log, error))
    child.start()
    fields = "{task.fields[docs_s]:,.0f} docs/s {task.fields[tok_s]:,.0f} tok/s"
    with progress(extra=fields) as bar:
        task = bar.add_task(label, total=total, docs_s=0.0, tok_s=0.0)
        while True:
            child.join(0.25)
            docs, _ = read_totals(stage_dir / "progress", "in")
            _, tokens = read_totals(stage_dir / "progress", "out")
            dt = max(time.monotonic() - started, 1e-9)
            bar.update(task, completed=docs, docs_s=docs / dt, tok_s=tokens / dt)
            if child.exitcode is not None:
                break
    if error.is_file():
        report = json.loads(error.read_text())
        if report["user"]:
            raise UserError(report["message"])
        raise RuntimeError(f"{label} failed in a worker (log: {log}):\n{report['traceback']}")
    if child.exitcode != 0:
        raise RuntimeError(f"{label}: worker process exited with code {child.exitcode} (log: {log})")
    docs, _ = read_totals(stage_dir / "progress", "in")
    _, tokens = read_totals(stage_dir / "progress", "out")
    dt = time.monotonic() - started
    console.print(
        f"{label}: {docs:,} documents, {tokens:,} tokens in {dt:.1f}s "
        f"({docs / max(dt, 1e-9):,.0f} docs/s, {tokens / max(dt, 1e-9):,.0f} tok/s)"
    )
