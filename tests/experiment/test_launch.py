"""`safereflect run --launcher local`: every stage as a submitit job on this machine, the same
results as the in-process runner, reruns that submit only what is not finished, and `status`."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # several experiments end to end, each stage a process

EXPERIMENT = {"name": "tiny-launch", **yaml.safe_load((Path(__file__).parent / "tiny_experiment.yaml").read_text())}
# the launched run has one attack: a job is mostly a Python start-up, and a benign attack's job is
# the harmful one's twin (the dry runs below show both)
ONE_ATTACK = {"eval": EXPERIMENT["eval"] | {"finetune": EXPERIMENT["eval"]["finetune"] | {"attacks": ["harmful-100"]}}}
ENV = {**os.environ, "COLUMNS": "250"}  # status tables unwrapped, so a state and its log share a line


def safereflect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "safereflect", *map(str, args)], capture_output=True, text=True, env=ENV
    )


def experiment(tmp_path: Path, name: str, **extra) -> Path:
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump(EXPERIMENT | {"out": str(tmp_path / name)} | extra))
    return cfg


def states(run_dir: Path) -> dict[str, str]:
    res = safereflect("status", run_dir)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = [line.split("│") for line in res.stdout.splitlines() if line.startswith("│")]
    return {cells[1].strip(): cells[-2].strip() for cells in rows}


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("launch")
    res = safereflect("run", experiment(tmp, "local", **ONE_ATTACK), "--launcher", "local")
    assert res.returncode == 0, res.stdout + res.stderr
    return tmp, res.stdout + res.stderr


def test_local_launcher_writes_the_results_of_the_in_process_run(launched):
    tmp, log = launched
    for job in ("world/tiny-w0", "tokenizer/tokenizer-raw-w0", "train/raw-s0", "eval/reflect-s0", "report"):
        assert f"job {job} (pid" in log, (job, log)
    # each finetuning attack ran in a job of its own, before its evaluation, which reused it
    assert log.index("job eval/raw-s0/attack-harmful-100 (pid") < log.index("job eval/raw-s0 (pid")
    assert "job eval/reflect-s0/attack-harmful-100 (pid" in log and "attack-benign" not in log
    inprocess = safereflect("run", experiment(tmp, "inprocess", **ONE_ATTACK))
    assert inprocess.returncode == 0, inprocess.stdout + inprocess.stderr
    local = json.loads((tmp / "local" / "results.json").read_text())
    assert set(local["arms"]) == {"raw", "reflect"} and len(local["claims"]) == 6
    assert (tmp / "local" / "results.json").read_bytes() == (tmp / "inprocess" / "results.json").read_bytes()
    assert (tmp / "local" / "report.html").is_file()
    ledger = json.loads((tmp / "local" / "jobs.json").read_text())["jobs"]
    assert ledger["train/raw-s0"]["launcher"] == "local" and Path(ledger["train/raw-s0"]["stdout"]).is_file()


def test_a_rerun_submits_nothing_and_status_says_done(launched):
    tmp, _ = launched
    before = (tmp / "local" / "results.json").stat().st_mtime
    res = safereflect("run", tmp / "local.yaml", "--launcher", "local")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "job " not in res.stdout + res.stderr
    assert (tmp / "local" / "results.json").stat().st_mtime == before
    assert set(states(tmp / "local").values()) == {"done"}


def test_a_failed_stage_shows_in_status_and_is_resubmitted(launched):
    tmp, _ = launched
    run = tmp / "local"
    before = (run / "results.json").read_bytes()
    # the reflect arm's evaluation is forgotten and its model taken away: that job fails
    eval_dir = next((run / "stages" / "eval").glob("reflect-s0-*"))
    (eval_dir / "_DONE.json").unlink()
    final = next((run / "stages" / "train").glob("reflect-s0-*")) / "final"
    final.rename(final.with_name("final.away"))
    res = safereflect("run", tmp / "local.yaml", "--launcher", "local")
    assert res.returncode == 2, res.stdout + res.stderr  # a UserError
    log = res.stdout + res.stderr
    assert "job eval/reflect-s0" in log and "job train" not in log and "job report" not in log
    assert "1 stage(s) failed: eval/reflect-s0" in log
    seen = states(run)
    assert seen["eval/reflect-s0"].startswith("failed (job ") and seen["eval/reflect-s0"].endswith("_log.err")
    assert Path(seen["eval/reflect-s0"].rsplit(": ", 1)[1]).is_file()
    assert seen["report"] == "not submitted" and seen["eval/raw-s0"] == "done"

    final.with_name("final.away").rename(final)
    res = safereflect("run", tmp / "local.yaml", "--launcher", "local")
    assert res.returncode == 0, res.stdout + res.stderr
    submitted = sorted(line.split()[1] for line in res.stderr.splitlines() if line.startswith("job "))
    assert submitted == ["eval/reflect-s0", "report"]
    assert (run / "results.json").read_bytes() == before
    assert set(states(run).values()) == {"done"}


def test_a_job_gives_torch_its_threads_without_importing_it():
    # a world or report job must not pay for torch's import to set its thread count
    code = (
        "import sys; from safereflect.experiment.launch import _limit_threads; _limit_threads(1); "
        "assert 'torch' not in sys.modules; import torch; first = torch.get_num_threads(); "
        "_limit_threads(3); print(first, torch.get_num_threads())"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.split() == ["1", "3"], res.stdout + res.stderr


def test_dry_run_prints_the_job_graph_and_submits_nothing(tmp_path):
    cfg = experiment(tmp_path, "dry", resources={"train": {"partition": "gpu", "time_min": 30}})
    res = safereflect("run", cfg, "--launcher", "slurm", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = {line.split("│")[1].strip(): line for line in res.stdout.splitlines() if line.startswith("│ ")}
    assert "prepare/raw-s0" in rows and "tokenizer/tokenizer-raw-w0" in rows["prepare/raw-s0"]
    assert "gpu" in rows["train/reflect-s0"] and "30 min" in rows["train/reflect-s0"]
    assert "eval/raw-s0, eval/reflect-s0" in rows["report"] and "not submitted" in rows["report"]
    assert not (tmp_path / "dry" / "jobs.json").exists() and not (tmp_path / "dry" / "stages").exists()


def test_an_unknown_resources_key_is_one_error_naming_it(tmp_path):
    cfg = experiment(tmp_path, "bad", resources={"train": {"gpus": 2}})
    res = safereflect("run", cfg, "--launcher", "local", "--dry-run")
    assert res.returncode != 0
    assert "resources.train.gpus: unknown key" in res.stderr + res.stdout
    assert "Traceback" not in res.stderr + res.stdout


def test_an_unknown_launcher_is_refused(tmp_path):
    res = safereflect("run", experiment(tmp_path, "x"), "--launcher", "kubernetes")
    assert res.returncode != 0 and "unknown launcher 'kubernetes'" in res.stderr + res.stdout


def slurm_up() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:
        nodes = sinfo("%T")
    except subprocess.TimeoutExpired:
        return False
    return any(state.strip("*~#") in ("idle", "mixed", "allocated") for state in nodes.split())


def sinfo(fmt: str) -> str:
    return subprocess.run(["sinfo", "-h", "-o", fmt], capture_output=True, text=True, timeout=20).stdout


@pytest.mark.skipif(not slurm_up(), reason="no Slurm answering here (.ci/slurm.sh starts a single-node one)")
@pytest.mark.timeout(900)  # 13 jobs through a real scheduler; about 2 min on an idle 2-core machine
def test_slurm_launcher_runs_the_experiment_on_a_real_slurm(tmp_path):
    import time

    # CI's Slurm node has a couple of CPUs: every job asks for one (the defaults ask for up to 8).
    # The reflect arm prepares with datatrove's Slurm executor: setup, an array of 2 tasks, merge.
    partition = next(p.rstrip("*") for p in sinfo("%P").split() if p.endswith("*"))
    slurm_prepare = {"executor": "slurm", "slurm": {"partition": partition, "mem_per_cpu_gb": 1, "time": "15"}}
    cfg = experiment(
        tmp_path,
        "slurm",
        resources={"default": {"cpus": 1, "mem_gb": 1, "time_min": 15}},
        arm_prepare={"reflect": {"tasks": 2, "run": slurm_prepare}},
    )
    res = safereflect("run", cfg, "--launcher", "slurm")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "submitted report: Slurm job" in res.stderr
    assert "submitted prepare/reflect-s0/tasks: datatrove array of 2 tasks" in res.stderr
    deadline = time.time() + 840
    while not (tmp_path / "slurm" / "results.json").exists():
        assert time.time() < deadline, states(tmp_path / "slurm")
        assert "failed" not in " ".join(states(tmp_path / "slurm").values()), states(tmp_path / "slurm")
        time.sleep(3)
    assert set(states(tmp_path / "slurm").values()) == {"done"}
    rerun = safereflect("run", cfg, "--launcher", "slurm")
    assert rerun.returncode == 0 and "Slurm job" not in rerun.stdout + rerun.stderr, rerun.stdout


# --- the Slurm graph without a Slurm: what would be submitted, with what ----------------

SLURM_PREPARE = {"run": {"executor": "slurm", "slurm": {"partition": "cpu", "mem_per_cpu_gb": 1.5, "time": "1-02:00"}}}


def tiny_config(tmp_path: Path, **extra):
    from safereflect.config import validate
    from safereflect.experiment import ExperimentConfig

    return validate(ExperimentConfig, EXPERIMENT | {"out": str(tmp_path / "run")} | extra)


def test_dry_run_shows_a_slurm_prepare_as_setup_array_and_merge(tmp_path):
    cfg = experiment(tmp_path, "arr", arm_prepare={"reflect": SLURM_PREPARE | {"tasks": 3}})
    res = safereflect("run", cfg, "--launcher", "slurm", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    rows = {line.split("│")[1].strip(): line.split("│") for line in res.stdout.splitlines() if line.startswith("│ ")}
    assert rows["prepare/reflect-s0/setup"][2].strip() == "tokenizer/tokenizer-raw-w0"
    tasks = rows["prepare/reflect-s0/tasks"]
    assert tasks[2].strip() == "prepare/reflect-s0/setup" and tasks[4].strip() == "3 (array)"
    assert (tasks[7].strip(), tasks[8].strip()) == ("1560 min", "cpu")  # run.slurm's time and partition
    assert rows["prepare/reflect-s0"][2].strip() == "prepare/reflect-s0/tasks"
    assert rows["train/reflect-s0"][2].strip() == "prepare/reflect-s0"
    assert "prepare/raw-s0/setup" not in rows and "prepare/raw-s0" in rows  # the raw arm prepares locally in a job
    attacks = [f"eval/reflect-s0/attack-{a}" for a in ("harmful-100", "benign")]
    assert all(rows[a][2].strip() == "train/reflect-s0" for a in attacks)
    assert rows["eval/reflect-s0"][2].strip() == "train/reflect-s0 and 2 attacks"
    local = safereflect("run", cfg, "--launcher", "local", "--dry-run")  # locally, one job runs the local executor
    assert "prepare/reflect-s0/tasks" not in local.stdout and "prepare/reflect-s0 " in local.stdout


class FakeSlurm:
    """sbatch for submitit's jobs and datatrove's arrays: numbered ids, what each was given."""

    def __init__(self, monkeypatch):
        import datatrove.executor.slurm as dt

        from safereflect.experiment import launch

        self.next, self.jobs, self.arrays = 100, {}, []
        monkeypatch.setattr(launch, "_submit", self.submit)
        monkeypatch.setattr(dt, "launch_slurm_job", self.sbatch)
        monkeypatch.setattr(launch, "_squeue", lambda job_id: ["PENDING"])

    def _id(self) -> str:
        self.next += 1
        return str(self.next)

    def submit(self, cfg, launcher, job, deps, threads):
        jid = self._id()
        self.jobs[job.id] = (jid, deps)
        return None, {"job_id": jid, "launcher": launcher, "result": "/nonexistent", "stderr": "-", "depends_on": deps}

    def sbatch(self, script, retriever, *args):
        jid = self._id()
        self.arrays.append((jid, script, args))
        return jid


def test_a_slurm_prepare_is_datatroves_array_held_by_its_setup_and_holding_the_training(tmp_path, monkeypatch):
    import dill

    from safereflect.data.launch import DeferredSlurmExecutor
    from safereflect.experiment.launch import launch, read_ledger

    fake = FakeSlurm(monkeypatch)
    cfg = tiny_config(
        tmp_path, arm_prepare={"reflect": SLURM_PREPARE | {"tasks": 3}}, resources={"default": {"account": "proj"}}
    )
    states = launch(cfg, "slurm")
    assert set(states.values()) == {"queued"}
    setup_id, _ = fake.jobs["prepare/reflect-s0/setup"]
    (array_id, script, args), (_, stats_script, _) = fake.arrays  # the array, then datatrove's stats merge
    assert f"#SBATCH --dependency=afterok:{array_id}" in stats_script
    assert f"--dependency=afterok:{setup_id}" in args
    assert "#SBATCH --array=0-2" in script and "#SBATCH --partition=cpu" in script
    assert "#SBATCH --kill-on-invalid-dep=yes" in script and "#SBATCH --account=proj" in script
    assert "#SBATCH --mem-per-cpu=1536M" in script  # sbatch takes no 1.5G
    assert fake.jobs["prepare/reflect-s0"][1] == [array_id]  # the merge waits for the array's tasks
    assert fake.jobs["train/reflect-s0"][1] == [fake.jobs["prepare/reflect-s0"][0]]
    assert "prepare/raw-s0/setup" not in fake.jobs  # an arm with the local executor stays one job
    ledger = read_ledger(cfg.out_dir)
    assert ledger["prepare/reflect-s0/tasks"]["job_id"] == array_id and ledger["prepare/reflect-s0/tasks"]["tasks"] == 3

    # what the tasks load: datatrove's executor, whose pipeline each task builds from the config
    process = next((cfg.out_dir / "stages" / "prepare").glob("reflect-s0-*")) / ".work" / "process"
    with open(process / "executor.pik", "rb") as fh:
        loaded = dill.load(fh)
    assert isinstance(loaded, DeferredSlurmExecutor) and loaded.pipeline == [] and loaded.world_size == 3
    assert loaded.build.args[0]["out"] == str(process.parent.parent) and loaded.build.args[0]["arm"] == "reflect"

    # a rerun while all of it is queued submits nothing
    before = (dict(fake.jobs), list(fake.arrays))
    assert set(launch(cfg, "slurm").values()) == {"queued"}
    assert (fake.jobs, fake.arrays) == before


def test_a_deferred_executor_builds_its_pipeline_in_the_task(tmp_path, monkeypatch):
    from functools import partial

    from safereflect.data.launch import DeferredSlurmExecutor

    seen = []
    ex = DeferredSlurmExecutor(
        partial(_record_pipeline, seen), tasks=2, time="10", partition="p", logging_dir=str(tmp_path / "logs")
    )
    monkeypatch.setattr(ex, "get_distributed_env", lambda node_rank=-1: dict.fromkeys(DIST_KEYS, "-"))
    assert ex.pipeline == []
    ex._run_for_rank(1)
    assert seen == [(1, 2)] and (tmp_path / "logs" / "completions" / "00001").is_file()


DIST_KEYS = (
    "datatrove_node_ips",
    "datatrove_cpus_per_task",
    "datatrove_mem_per_cpu",
    "datatrove_gpus_on_node",
    "datatrove_executor",
)


def _record_pipeline(seen):
    def step(data, rank, world_size):
        seen.append((rank, world_size))
        yield from data or []

    return [step]


def test_a_two_node_eight_gpu_training_job_asks_slurm_for_sixteen_processes(tmp_path, monkeypatch):
    from safereflect.experiment.launch import _executor, job_graph

    # submitit's SlurmExecutor refuses to be built where `srun` is not on PATH; nothing here
    # submits, so a stand-in that would fail if called lets the parameters be checked anywhere
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    cfg = tiny_config(tmp_path, resources={"train": {"nodes": 2, "gpus_per_node": 8, "partition": "gpu"}})
    job = next(j for j in job_graph(cfg, "slurm")[0] if j.id == "train/reflect-s0")
    assert job.processes == 16
    ex = _executor("slurm", tmp_path / "jobs", job, ["41"])
    p = ex.parameters
    assert (p["nodes"], p["ntasks_per_node"], p["gpus_per_node"], p["partition"]) == (2, 8, 8, "gpu")
    assert p["dependency"] == "afterok:41" and p["additional_parameters"] == {"kill-on-invalid-dep": "yes"}
    evaluation = next(j for j in job_graph(cfg, "slurm")[0] if j.id == "eval/reflect-s0")
    assert _executor("slurm", tmp_path / "jobs", evaluation, []).parameters["ntasks_per_node"] == 1
    with pytest.raises(Exception, match="2 nodes"):
        _executor("local", tmp_path / "jobs", job, [])
