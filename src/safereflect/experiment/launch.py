"""`safereflect run --launcher local|slurm`: every unfinished stage as a submitit job.

The job graph is the runner's stage graph (`graph.py`) plus a last `report` job (results.json,
runs.json, the report). A stage is finished when its completion record says so (`_DONE.json`,
the stage cache), never because a job ended: jobs are only how stages get run. The ledger
`RUN/jobs.json` maps each stage to its last job (id, launcher, log paths), so a rerun skips
finished stages, resubmits failed ones and leaves queued or running ones alone.

Slurm gets the whole graph at once, each job held by `--dependency=afterok:` on the jobs it
reads (`kill-on-invalid-dep`, so the dependants of a failed job end instead of waiting
forever). submitit's local executor has no dependencies, so `local` runs each job once the
stages it reads are finished, at most `--parallel` at once, and waits for the last.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safereflect.console import console
from safereflect.errors import UserError
from safereflect.experiment.config import ExperimentConfig
from safereflect.experiment.graph import Step, experiment_steps
from safereflect.experiment.resources import Resources
from safereflect.experiment.stages import MARKER, StageCache
from safereflect.jsonl import read_json, write_json

LEDGER = "jobs.json"
ACTIVE = ("queued", "running", "unknown")
# sacct/squeue states as the ledger names them; anything else (FAILED, TIMEOUT, ...) is a failure
SLURM_STATES = {
    "PENDING": "queued",
    "REQUEUED": "queued",
    "REQUEUE_HOLD": "queued",
    "RESIZING": "queued",
    "SUSPENDED": "queued",
    "RUNNING": "running",
    "CONFIGURING": "running",
    "COMPLETING": "running",
    "SIGNALING": "running",
    "STAGE_OUT": "running",
}


@dataclass
class Job:
    id: str
    kind: str
    deps: list[str]
    resources: Resources
    step: Step | None  # None: the report
    path: Path | None  # the stage directory


def job_graph(cfg: ExperimentConfig) -> tuple[list[Job], list[dict[str, Any]]]:
    cache = StageCache(cfg.out_dir / "stages")
    steps, runs = experiment_steps(cfg, cache)
    jobs = []
    for s in steps:
        preset = (s.variant.model if s.variant else None) or cfg.train.get("preset", "cpu-1m")
        jobs.append(
            Job(s.id, s.kind, s.deps, cfg.resources.resolve(s.kind, preset), s, cache.path(s.stage, s.name, s.key))
        )
    evals = [s.id for s in steps if s.kind == "eval"]
    jobs.append(Job("report", "report", evals, cfg.resources.resolve("report", None), None, None))
    return jobs, runs


def finished(cfg: ExperimentConfig, job: Job, runs: list[dict[str, Any]]) -> bool:
    """A stage by its completion record; the report when results.json was written from exactly
    these runs, after the last of their evaluations finished."""
    if job.path is not None:
        return StageCache(cfg.out_dir / "stages").done(job.path) is not None
    results, written = cfg.out_dir / "results.json", cfg.out_dir / "runs.json"
    if not (results.is_file() and written.is_file() and read_json(written) == runs):
        return False
    evals = [Path(r["eval"]) / MARKER for r in runs]
    return all(p.is_file() and p.stat().st_mtime <= results.stat().st_mtime for p in evals)


# --- the ledger ----------------------------------------------------------------------------


def read_ledger(out: Path) -> dict[str, dict[str, Any]]:
    path = out / LEDGER
    return read_json(path).get("jobs", {}) if path.is_file() else {}


def write_ledger(out: Path, ledger: dict[str, dict[str, Any]]) -> None:
    write_json(out / LEDGER, {"jobs": ledger})  # atomic: a reader sees the old ledger or the new


def job_state(entry: dict[str, Any]) -> str:
    """queued, running, finished, failed or unknown: what the job itself says (not whether its
    stage is done). submitit's result file answers for an ended job; a live one is asked of
    the process (local) or of squeue (Slurm: sacct needs an accounting database, which many
    small clusters, CI's among them, do not run)."""
    result = Path(entry["result"])
    if result.is_file():
        from submitit.core.utils import pickle_load

        return "finished" if pickle_load(result)[0] == "success" else "failed"
    if entry["launcher"] == "local":
        return "running" if _alive(int(entry["job_id"])) else "failed"  # killed before it wrote a result
    try:
        state = subprocess.run(
            ["squeue", "-h", "-j", entry["job_id"], "-o", "%T"], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if state.returncode != 0 and "Invalid job id" not in state.stderr:
        return "unknown"  # the controller did not answer: never resubmit on a guess
    # a job squeue has forgotten, or that ended there without a result file, failed (cancelled, timed out, ...)
    return SLURM_STATES.get(state.stdout.strip(), "failed")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    return not cmdline.exists() or b"submitit" in cmdline.read_bytes()  # not a reused pid


def stage_states(cfg: ExperimentConfig, jobs: list[Job], runs, ledger) -> dict[str, str]:
    """done / queued / running / failed / not submitted, for every job of the graph."""
    states = {}
    for job in jobs:
        entry = ledger.get(job.id)
        if finished(cfg, job, runs):
            states[job.id] = "done"
        elif entry is None:
            states[job.id] = "not submitted"
        else:
            live = job_state(entry)
            # a job that succeeded for a stage no longer finished (its inputs were redone since) is just old
            states[job.id] = "not submitted" if live == "finished" else live
    return states


# --- submitting ----------------------------------------------------------------------------


def _executor(launcher: str, folder: Path, job: Job, deps: list[str]):
    import submitit

    r = job.resources
    # a multi-GPU training job runs one process per GPU (torch.distributed from submitit's env)
    tasks = max(1, r.gpus_per_node or 0) if job.kind == "train" else 1
    if launcher == "local":
        if (r.nodes or 1) > 1:
            raise UserError(
                f"stage {job.id} asks for {r.nodes} nodes; the local launcher runs on one machine",
                hint="set resources.train.nodes: 1, or use --launcher slurm",
            )
        ex = submitit.LocalExecutor(folder)
        ex.update_parameters(timeout_min=r.time_min, tasks_per_node=tasks, gpus_per_node=r.gpus_per_node or 0)
        return ex
    ex = submitit.SlurmExecutor(folder)
    extra: dict[str, Any] = {"kill-on-invalid-dep": "yes"} if deps else {}
    ex.update_parameters(
        job_name=f"safereflect-{job.id}",
        time=r.time_min,
        nodes=r.nodes,
        ntasks_per_node=tasks,
        cpus_per_task=r.cpus,
        mem=f"{r.mem_gb:g}GB" if r.mem_gb else None,
        gpus_per_node=r.gpus_per_node or None,
        partition=r.partition,
        account=r.account,
        qos=r.qos,
        dependency="afterok:" + ":".join(deps) if deps else None,
        additional_parameters=extra,
    )
    return ex


def _submit(cfg: ExperimentConfig, launcher: str, job: Job, deps: list[str], force: bool, threads: int | None):
    folder = cfg.out_dir.resolve() / "jobs" / "%j"
    ex = _executor(launcher, folder, job, deps)
    sjob = ex.submit(
        run_job, os.getcwd(), cfg.model_dump(mode="json"), cfg.source_file, job.id, force, threads, time.time()
    )
    entry = {
        "job_id": str(sjob.job_id),
        "launcher": launcher,
        "state": "queued",
        "folder": str(folder),
        "stdout": str(sjob.paths.stdout),
        "stderr": str(sjob.paths.stderr),
        "result": str(sjob.paths.result_pickle),
        "submitted": time.strftime("%Y-%m-%d %H:%M:%S"),
        "depends_on": deps,
    }
    return sjob, entry


def launch(cfg: ExperimentConfig, launcher: str, *, force: bool = False, parallel: int = 1) -> dict[str, str]:
    """Submit every stage not finished (all of them with `force`); returns each job's state."""
    out = cfg.out_dir
    jobs, runs = job_graph(cfg)
    ledger = read_ledger(out)
    states = stage_states(cfg, jobs, runs, ledger)
    if force:
        states = {k: ("not submitted" if v == "done" else v) for k, v in states.items()}
    active = [j for j in jobs if states[j.id] in ACTIVE]
    if launcher == "local" and active:
        raise UserError(
            f"stage {active[0].id} is still running (local job {ledger[active[0].id]['job_id']}) from an earlier run",
            hint="wait for that run to end, then rerun",
        )
    if launcher == "slurm":
        ids = {j.id: ledger[j.id]["job_id"] for j in active}
        for job in jobs:
            if states[job.id] in ("done", *ACTIVE):
                continue
            # torch takes the job's CPUs, not every core of the node it lands on
            _, entry = _submit(cfg, launcher, job, [ids[d] for d in job.deps if d in ids], force, job.resources.cpus)
            ids[job.id] = entry["job_id"]
            ledger[job.id] = entry
            states[job.id] = "queued"
            write_ledger(out, ledger)
            console.print(f"submitted {job.id}: Slurm job {entry['job_id']}")
        return states
    return _run_local(cfg, jobs, runs, states, ledger, force, parallel)


def _run_local(
    cfg, jobs: list[Job], runs, states: dict[str, str], ledger, force: bool, parallel: int
) -> dict[str, str]:
    # the same threads per job as the in-process runner gives each of `parallel` pipelines
    threads = max(1, (os.cpu_count() or 1) // parallel) if parallel > 1 else None
    # what failed before is resubmitted: only a failure in this run holds back its dependants
    states = {k: ("done" if v == "done" else "pending") for k, v in states.items()}
    pending = [j for j in jobs if states[j.id] != "done"]
    running: dict[str, Any] = {}
    while pending or running:
        for job in list(pending):
            if any(states[d] in ("failed", "blocked") for d in job.deps):
                states[job.id] = "blocked"
                pending.remove(job)
            elif len(running) < parallel and all(states[d] == "done" for d in job.deps):
                sjob, ledger[job.id] = _submit(cfg, "local", job, [], force, threads)
                running[job.id] = (job, sjob)
                states[job.id] = "running"
                pending.remove(job)
                write_ledger(cfg.out_dir, ledger)
                console.print(f"[bold]job[/] {job.id} (pid {sjob.job_id})")
        if not running:
            break
        time.sleep(0.2)
        for jid, (job, sjob) in list(running.items()):
            if sjob.done():
                del running[jid]
                ok = sjob.exception() is None and finished(cfg, job, runs)
                states[jid] = "done" if ok else "failed"
                ledger[jid]["state"] = "finished" if ok else "failed"
                write_ledger(cfg.out_dir, ledger)
                if not ok:
                    console.print(f"[red]failed[/] {jid}: see {ledger[jid]['stderr']}")
    return {k: ("not submitted" if v in ("blocked", "pending") else v) for k, v in states.items()}


# --- inside the job ------------------------------------------------------------------------


def run_job(
    cwd: str, cfg_json: dict, source_file: str | None, job_id: str, force: bool, threads: int | None, started: float
) -> str:
    """One stage (or the report), in its own process: the stage graph is rebuilt from the
    config, so the job runs exactly the step the in-process runner would, under its identity."""
    from safereflect.config import validate

    os.chdir(cwd)  # relative output paths mean what they meant where `safereflect run` ran
    os.environ["SAFEREFLECT_NO_BARS"] = "1"  # a log file, not a terminal
    import torch

    if threads:
        torch.set_num_threads(threads)
    cfg = validate(ExperimentConfig, cfg_json)
    cfg._source_file = source_file
    jobs, runs = job_graph(cfg)
    job = next(j for j in jobs if j.id == job_id)
    missing = [j.id for j in jobs if j.id in job.deps and not finished(cfg, j, runs)]
    if missing:
        raise UserError(f"stage {job_id} needs {', '.join(missing)}, which has not finished")
    if job.step is None:
        from safereflect.experiment.runner import finish

        finish(cfg, runs, time.time() - started)
        return "report"
    step, cache = job.step, StageCache(cfg.out_dir / "stages", force=force, log=console.print)
    r = job.resources
    if job.kind == "train" and (r.nodes or 1) * max(1, r.gpus_per_node or 0) > 1:
        from submitit.helpers import TorchDistributedEnvironment

        # RANK, WORLD_SIZE, MASTER_ADDR/PORT, LOCAL_RANK: what start_runtime reads under torchrun;
        # every GPU stays visible, as under torchrun, and the trainer takes cuda:LOCAL_RANK
        env = TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        if env.rank != 0:  # every process trains; process 0 alone keeps the stage record
            job.path.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            step.run(job.path)  # type: ignore[arg-type]
            return step.id
    cache.run(step.stage, step.name, step.key, step.run)
    return step.id
