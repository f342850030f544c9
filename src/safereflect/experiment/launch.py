"""`safereflect run --launcher local|slurm`: every unfinished stage as a submitit job.

The job graph is the runner's stage graph (`graph.py`) plus a last `report` job (results.json,
runs.json, the report). A stage is finished when its completion record says so (`_DONE.json`,
the stage cache), never because a job ended: jobs are only how stages get run. The ledger
`RUN/jobs.json` maps each stage to its last job (id, launcher, log paths), so a rerun skips
finished stages, resubmits failed ones and leaves queued or running ones alone.

Slurm gets the whole graph at once, each job held by `--dependency=afterok:` on the jobs it
reads (`kill-on-invalid-dep`, so the dependants of a failed job end instead of waiting
forever). A prepare whose config says `run.executor: slurm` is three jobs there: its setup
(claim the output, train or adopt the tokenizer), datatrove's own array job of its tasks
(submitted by datatrove's executor, which gives its job id for the next job to wait on) and
its merge, which writes the stage's record. submitit's local executor has no dependencies,
so `local` runs each job once the stages it reads are finished, at most `--parallel` at
once, and waits for the last; its prepare jobs run datatrove's local executor.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safereflect.console import console
from safereflect.data.pipeline import layout
from safereflect.errors import UserError
from safereflect.experiment.config import ExperimentConfig
from safereflect.experiment.graph import Step, experiment_steps
from safereflect.experiment.resources import Resources
from safereflect.experiment.stages import MARKER, StageCache
from safereflect.jsonl import read_json, write_json
from safereflect.stage import read_done

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
    part: str | None = None  # of a stage run as several jobs: setup, tasks (an array), merge
    tasks: int = 1  # an array job's tasks

    @property
    def processes(self) -> int:
        """Processes the job runs: one per GPU of a training job, one per task of an array."""
        if self.part == "tasks":
            return self.tasks
        r = self.resources
        return (r.nodes or 1) * max(1, r.gpus_per_node or 0) if self.kind == "train" else 1


def arrayed(launcher: str, step: Step) -> bool:
    """Whether a prepare runs as setup, datatrove array and merge jobs: on Slurm, when its
    config asks for datatrove's Slurm executor."""
    return launcher == "slurm" and step.prepare is not None and step.prepare.run.executor == "slurm"


def job_graph(cfg: ExperimentConfig, launcher: str = "local") -> tuple[list[Job], list[dict[str, Any]]]:
    cache = StageCache(cfg.out_dir / "stages")
    steps, runs = experiment_steps(cfg, cache)
    jobs = []
    for s in steps:
        preset = (s.variant.model if s.variant else None) or cfg.train.get("preset", "cpu-1m")
        res, path = cfg.resources.resolve(s.kind, preset), cache.path(s.stage, s.name, s.key)
        if s.attacks:  # each finetuning attack its own job; the evaluation reuses what they trained
            attack_res = cfg.resources.resolve("attack", preset)
            attacks = [
                Job(f"{s.id}/attack-{a}", "attack", s.deps, attack_res, s, path, f"attack:{a}") for a in s.attacks
            ]
            jobs += [*attacks, Job(s.id, s.kind, s.deps + [a.id for a in attacks], res, s, path)]
            continue
        if not arrayed(launcher, s):
            jobs.append(Job(s.id, s.kind, s.deps, res, s, path))
            continue
        pc = s.prepare
        jobs += [
            Job(f"{s.id}/setup", s.kind, s.deps, res, s, path, "setup"),
            Job(f"{s.id}/tasks", s.kind, [f"{s.id}/setup"], array_resources(pc.run, res), s, path, "tasks", pc.tasks),
            Job(s.id, s.kind, [f"{s.id}/tasks"], res, s, path, "merge"),
        ]
    evals = [s.id for s in steps if s.kind == "eval"]
    jobs.append(Job("report", "report", evals, cfg.resources.resolve("report", None), None, None))
    return jobs, runs


def array_resources(run, stage: Resources) -> Resources:
    """What each task of a prepare's array asks for: the prepare config's `run.slurm` (as
    `safereflect prepare --executor slurm` submits it), the partition and account from the
    experiment's resources where `run.slurm` names none."""
    s = run.slurm
    account = s.sbatch_args.get("account", stage.account)
    return Resources(
        nodes=1,
        gpus_per_node=0,
        cpus=s.cpus_per_task,
        mem_gb=s.cpus_per_task * s.mem_per_cpu_gb,
        time_min=slurm_minutes(s.time),
        partition=s.partition or stage.partition,
        account=account,
        qos=s.qos,
    )


def slurm_minutes(limit: str) -> int | None:
    """Minutes of a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)."""
    try:
        days, _, rest = limit.rpartition("-")
        parts = [int(x) for x in rest.split(":")]
        if days:
            h, m, sec = (parts + [0, 0])[:3]
        else:
            h, m, sec = {1: [0, *parts, 0], 2: [0, *parts], 3: parts}[len(parts)]
        return int(days or 0) * 1440 + h * 60 + m + (sec > 0)
    except (KeyError, ValueError):
        return None


def finished(cfg: ExperimentConfig, job: Job, runs: list[dict[str, Any]]) -> bool:
    """A stage by its completion record; a prepare's setup by its saved tokenizer, its array
    by its tasks' completion markers (or what the merge wrote before removing them); an
    attack by its finetune's record; the report when results.json was written from exactly
    these runs, after the last of their evaluations finished."""
    if job.path is not None:
        if StageCache(cfg.out_dir / "stages").done(job.path) is not None:
            return True
        if job.part == "setup":
            return (layout(job.path)["work"] / "tokenizer.done").is_file()
        if job.part and job.part.startswith("attack:"):
            return read_done(job.path / "finetune" / job.part.split(":", 1)[1]) is not None
        if job.part == "tasks":  # the merge removes the markers once stats.json is written
            return (job.path / "stats.json").is_file() or tasks_complete(layout(job.path)["process"], job.tasks)
        return False
    results, written = cfg.out_dir / "results.json", cfg.out_dir / "runs.json"
    if not (results.is_file() and written.is_file() and read_json(written) == runs):
        return False
    evals = [Path(r["eval"]) / MARKER for r in runs]
    return all(p.is_file() and p.stat().st_mtime <= results.stat().st_mtime for p in evals)


# --- the ledger ----------------------------------------------------------------------------


def read_ledger(out: Path) -> dict[str, dict[str, Any]]:
    path = out / LEDGER
    return read_json(path).get("jobs", {}) if path.is_file() else {}


def ledger_launcher(out: Path) -> str:
    """The launcher of the last launch of this run (its job graph's shape), local if none."""
    path = out / LEDGER
    return read_json(path).get("launcher", "local") if path.is_file() else "local"


def write_ledger(out: Path, ledger: dict[str, dict[str, Any]], launcher: str) -> None:
    # atomic: a reader sees the old ledger or the new
    write_json(out / LEDGER, {"launcher": launcher, "jobs": ledger})


def tasks_complete(logging_dir: Path, tasks: int) -> bool:
    """Whether every task of a datatrove run left its completion marker."""
    done = logging_dir / "completions"
    return all((done / f"{rank:05d}").is_file() for rank in range(tasks))


def job_state(entry: dict[str, Any]) -> str:
    """queued, running, finished, failed or unknown: what the job itself says (not whether its
    stage is done). submitit's result file answers for an ended job; a live one is asked of
    the process (local) or of squeue (Slurm: sacct needs an accounting database, which many
    small clusters, CI's among them, do not run)."""
    if entry.get("array"):  # datatrove's array: squeue while it lives, then its tasks' markers
        live = _squeue(entry["job_id"])
        if live is None:
            return "unknown"
        states = {SLURM_STATES.get(s) for s in live}
        if states & {"running", "queued"}:
            return "running" if "running" in states else "queued"
        return "finished" if tasks_complete(Path(entry["logging_dir"]), entry["tasks"]) else "failed"
    result = Path(entry["result"])
    if result.is_file():
        from submitit.core.utils import pickle_load

        return "finished" if pickle_load(result)[0] == "success" else "failed"
    if entry["launcher"] == "local":
        return "running" if _alive(int(entry["job_id"])) else "failed"  # killed before it wrote a result
    live = _squeue(entry["job_id"])
    if live is None:
        return "unknown"
    # a job squeue has forgotten, or that ended there without a result file, failed (cancelled, timed out, ...)
    return SLURM_STATES.get(live[0], "failed") if live else "failed"


def _squeue(job_id: str) -> list[str] | None:
    """The states squeue gives a job (one line per array task still known), [] for a job it
    has forgotten, None when the controller does not answer (never resubmit on a guess)."""
    try:
        state = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if state.returncode != 0 and "Invalid job id" not in state.stderr:
        return None
    return state.stdout.split() if state.returncode == 0 else []


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
    tasks = job.processes // (r.nodes or 1)
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


def _submit(cfg: ExperimentConfig, launcher: str, job: Job, deps: list[str], threads: int | None):
    folder = cfg.out_dir.resolve() / "jobs" / "%j"
    ex = _executor(launcher, folder, job, deps)
    sjob = ex.submit(
        run_job, os.getcwd(), cfg.model_dump(mode="json"), cfg.source_file, job.id, launcher, threads, time.time()
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


def _submit_array(job: Job, deps: list[str]) -> dict[str, Any] | None:
    """Submit a prepare's tasks with datatrove's own Slurm executor, held until its setup job
    (`deps`) has succeeded; its ledger entry, or None when every task had finished already."""
    from safereflect.data.prepare import array_executor

    pc = job.step.prepare.model_copy(update={"out": job.path})  # type: ignore[union-attr]
    extra = {"kill-on-invalid-dep": "yes"} if deps else {}
    if job.resources.account:
        extra["account"] = job.resources.account
    ex = array_executor(pc, partition=job.resources.partition, depends_job_id=":".join(deps) or None, sbatch_args=extra)
    try:
        ex.launch_job()
    except subprocess.CalledProcessError as err:
        raise UserError(
            f"sbatch refused the array job of {job.id} (exit {err.returncode}; its message is above)",
            hint=f"its launch script: {layout(job.path)['process'] / 'launch_script.slurm'}",  # type: ignore[arg-type]
        ) from None
    if ex.job_id in (None, -1):
        return None
    logs = str(ex.slurm_logs_folder)
    return {
        "job_id": str(ex.job_id),
        "launcher": "slurm",
        "array": True,
        "tasks": job.tasks,
        "state": "queued",
        "logging_dir": str(layout(job.path)["process"]),  # type: ignore[arg-type]
        "stdout": logs,
        "stderr": logs,
        "submitted": time.strftime("%Y-%m-%d %H:%M:%S"),
        "depends_on": deps,
    }


def _clear(job: Job, cleared: set[Path]) -> None:
    """--force: empty a stage's directory once, before the first of its jobs is submitted, so
    the jobs of a stage of several (setup, tasks, merge) build on each other's files."""
    if job.path is not None and job.path not in cleared:
        cleared.add(job.path)
        if job.path.exists():
            shutil.rmtree(job.path)


def launch(cfg: ExperimentConfig, launcher: str, *, force: bool = False, parallel: int = 1) -> dict[str, str]:
    """Submit every stage not finished (all of them with `force`); returns each job's state."""
    out = cfg.out_dir
    jobs, runs = job_graph(cfg, launcher)
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
    cleared: set[Path] = set()
    if launcher == "slurm":
        ids = {j.id: ledger[j.id]["job_id"] for j in active}
        for job in jobs:
            if states[job.id] in ("done", *ACTIVE):
                continue
            if force:
                _clear(job, cleared)
            deps = [ids[d] for d in job.deps if d in ids]
            if job.part == "tasks":
                entry = _submit_array(job, deps)
                if entry is None:
                    states[job.id] = "done"
                    continue
                what = f"datatrove array of {job.tasks} tasks"
            else:
                # torch takes the job's CPUs, not every core of the node it lands on
                _, entry = _submit(cfg, launcher, job, deps, job.resources.cpus)
                what = "Slurm job"
            ids[job.id] = entry["job_id"]
            ledger[job.id] = entry
            states[job.id] = "queued"
            write_ledger(out, ledger, launcher)
            console.print(f"submitted {job.id}: {what} {entry['job_id']}")
        return states
    return _run_local(cfg, jobs, runs, states, ledger, cleared if force else None, parallel)


def _run_local(
    cfg, jobs: list[Job], runs, states: dict[str, str], ledger, cleared: set[Path] | None, parallel: int
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
                if cleared is not None:  # --force
                    _clear(job, cleared)
                sjob, ledger[job.id] = _submit(cfg, "local", job, [], threads)
                running[job.id] = (job, sjob)
                states[job.id] = "running"
                pending.remove(job)
                write_ledger(cfg.out_dir, ledger, "local")
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
                write_ledger(cfg.out_dir, ledger, "local")
                if not ok:
                    console.print(f"[red]failed[/] {jid}: see {ledger[jid]['stderr']}")
    return {k: ("not submitted" if v in ("blocked", "pending") else v) for k, v in states.items()}


# --- inside the job ------------------------------------------------------------------------


def run_job(
    cwd: str, cfg_json: dict, source_file: str | None, job_id: str, launcher: str, threads: int | None, started: float
) -> str:
    """One stage (or the report, or a part of a prepare), in its own process: the stage graph
    is rebuilt from the config, so the job runs exactly the step the in-process runner would,
    under its identity. (--force emptied the stage's directory before the job was submitted.)"""
    from safereflect.config import validate

    os.chdir(cwd)  # relative output paths mean what they meant where `safereflect run` ran
    os.environ["SAFEREFLECT_NO_BARS"] = "1"  # a log file, not a terminal
    if threads:
        _limit_threads(threads)
    cfg = validate(ExperimentConfig, cfg_json)
    cfg._source_file = source_file
    jobs, runs = job_graph(cfg, launcher)
    job = next(j for j in jobs if j.id == job_id)
    missing = [j.id for j in jobs if j.id in job.deps and not finished(cfg, j, runs)]
    if missing:
        raise UserError(f"stage {job_id} needs {', '.join(missing)}, which has not finished")
    if job.step is None:
        from safereflect.experiment.runner import finish

        finish(cfg, runs, time.time() - started)
        return "report"
    step, cache = job.step, StageCache(cfg.out_dir / "stages", log=console.print)
    if step.prepare is not None:
        return _run_prepare_job(job, launcher, cache)
    if job.kind == "attack":
        from safereflect.eval.attacks.finetune import run_attack

        run_attack(step.evaluation.model_copy(update={"out": job.path}), job.part.split(":", 1)[1])  # type: ignore[union-attr]
        return job.id
    if job.kind == "train" and job.processes > 1:
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


def _limit_threads(threads: int) -> None:
    """Give torch `threads` threads without importing it: a world, tokenizer or report job never
    does, and importing it would be most of such a job's time. torch sizes its pools from these
    variables when it is first imported; where it is imported already, it is told directly."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def _run_prepare_job(job: Job, launcher: str, cache: StageCache) -> str:
    """A prepare (or the tokenizer's) as one job, or its setup or merge (`Job.part`).
    A local job runs the tasks with datatrove's local executor whatever the config says: its
    Slurm executor would submit an array and leave the stage unfinished (exit 75)."""
    from safereflect.data import run_prepare
    from safereflect.data.prepare import prepare_setup

    step = job.step
    pc = step.prepare  # type: ignore[union-attr]
    if launcher == "local" and pc.run.executor == "slurm":
        pc = pc.model_copy(update={"run": pc.run.model_copy(update={"executor": "local"})})
    if job.part == "setup":
        prepare_setup(pc.model_copy(update={"out": job.path}))
        return job.id
    submit = job.part != "merge"
    cache.run(
        step.stage, step.name, step.key, lambda d: run_prepare(pc.model_copy(update={"out": d}), submit=submit).name
    )
    return job.id
