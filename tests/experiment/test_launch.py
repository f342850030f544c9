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

EXPERIMENT = {  # test_run.py's tiny experiment
    "name": "tiny-launch",
    "world": {"preset": "tiny", "seed": 0},
    "arms": ["raw", "reflect"],
    "prepare": {"tokenizer": {"vocab_size": 400}, "interventions": {"reflect": {"segment_words": 12}}, "tasks": 1},
    "train": {"preset": "tiny", "seq_len": 128, "max_steps": 8, "warmup_steps": 2, "checkpoint_every": 4},
    "eval": {
        "max_probes": 6,
        "batch_size": 8,
        "cls": {"methods": ["zeroshot", "probe"], "probe_folds": 2},
        "finetune": {"attacks": ["harmful-100", "benign"], "budget": {"max_steps": 2}, "export_steps": [1]},
    },
    "samples_per_arm": 2,
}
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
    res = safereflect("run", experiment(tmp, "local"), "--launcher", "local")
    assert res.returncode == 0, res.stdout + res.stderr
    return tmp, res.stdout + res.stderr


def test_local_launcher_writes_the_results_of_the_in_process_run(launched):
    tmp, log = launched
    for job in ("world/tiny-w0", "tokenizer/tokenizer-raw-w0", "train/raw-s0", "eval/reflect-s0", "report"):
        assert f"job {job} (pid" in log, (job, log)
    inprocess = safereflect("run", experiment(tmp, "inprocess"))
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
        nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except subprocess.TimeoutExpired:
        return False
    return any(state.strip("*~#") in ("idle", "mixed", "allocated") for state in nodes.split())


@pytest.mark.skipif(not slurm_up(), reason="no Slurm answering here (.ci/slurm.sh starts a single-node one)")
@pytest.mark.timeout(900)  # nine jobs through a real scheduler; about 2 min on an idle 2-core machine
def test_slurm_launcher_runs_the_experiment_on_a_real_slurm(tmp_path):
    import time

    # CI's Slurm node has a couple of CPUs: every job asks for one (the defaults ask for up to 8)
    cfg = experiment(tmp_path, "slurm", resources={"default": {"cpus": 1, "mem_gb": 1, "time_min": 15}})
    res = safereflect("run", cfg, "--launcher", "slurm")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "submitted report: Slurm job" in res.stderr
    deadline = time.time() + 840
    while not (tmp_path / "slurm" / "results.json").exists():
        assert time.time() < deadline, states(tmp_path / "slurm")
        assert "failed" not in " ".join(states(tmp_path / "slurm").values()), states(tmp_path / "slurm")
        time.sleep(3)
    assert set(states(tmp_path / "slurm").values()) == {"done"}
    rerun = safereflect("run", cfg, "--launcher", "slurm")
    assert rerun.returncode == 0 and "Slurm job" not in rerun.stdout + rerun.stderr, rerun.stdout
