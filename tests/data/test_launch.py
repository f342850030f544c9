"""Executors: local runs here; Slurm and Ray are only constructed, with the right arguments."""

import pytest

from safereflect.config import validate
from safereflect.data.config import RunConfig
from safereflect.data.launch import build_executor
from safereflect.errors import UserError


def _step(data, rank, world_size):
    yield from data or []


def test_slurm_executor_gets_the_configured_arguments(tmp_path):
    from datatrove.executor.slurm import SlurmPipelineExecutor

    run = validate(
        RunConfig,
        {
            "executor": "slurm",
            "slurm": {
                "partition": "cpu",
                "time": "02:00:00",
                "cpus_per_task": 2,
                "mem_per_cpu_gb": 4,
                "venv_path": "/opt/venv",
                "max_concurrent": 16,
            },
        },
    )
    ex = build_executor([_step], tasks=64, logging_dir=tmp_path / "logs", run=run, name="process")
    assert isinstance(ex, SlurmPipelineExecutor)
    assert (ex.tasks, ex.partition, ex.time, ex.cpus_per_task, ex.mem_per_cpu_gb, ex.venv_path, ex.workers) == (
        64,
        "cpu",
        "02:00:00",
        2,
        4,
        "/opt/venv",
        16,
    )
    assert ex.job_name == "safereflect-prepare-process" and str(tmp_path / "logs") in ex.logging_dir.path


def test_slurm_tasks_run_this_python_and_get_whole_units_of_memory(tmp_path):
    import sys
    from pathlib import Path

    run = validate(RunConfig, {"executor": "slurm", "slurm": {"partition": "cpu", "mem_per_cpu_gb": 1.5}})
    ex = build_executor([_step], tasks=2, logging_dir=tmp_path / "logs", run=run, name="process")
    script = ex.get_launch_file_contents(ex.get_sbatch_args(2), "launch_pickled_pipeline x")
    assert "#SBATCH --mem-per-cpu=1536M" in script and "1.5G" not in script
    assert f"export PATH={Path(sys.executable).parent}:$PATH" in script
    venv = validate(
        RunConfig, {"executor": "slurm", "slurm": {"partition": "cpu", "venv_path": "/opt/venv/bin/activate"}}
    )
    ex = build_executor([_step], tasks=2, logging_dir=tmp_path / "logs", run=venv, name="process")
    assert "source /opt/venv/bin/activate" in ex.get_launch_file_contents(ex.get_sbatch_args(2), "x")


def test_slurm_needs_a_partition(tmp_path):
    with pytest.raises(UserError, match="partition"):
        build_executor([_step], tasks=2, logging_dir=tmp_path, run=validate(RunConfig, {"executor": "slurm"}), name="p")


def test_ray_executor_gets_the_configured_arguments(tmp_path):
    from datatrove.executor.ray import RayPipelineExecutor

    run = validate(RunConfig, {"executor": "ray", "ray": {"cpus_per_task": 3, "mem_per_cpu_gb": 1.5}})
    ex = build_executor([_step], tasks=8, logging_dir=tmp_path / "logs", run=run, name="process")
    assert isinstance(ex, RayPipelineExecutor)
    assert (ex.tasks, ex.cpus_per_task, ex.mem_per_cpu_gb, ex.workers) == (8, 3, 1.5, 8)


def test_local_executor_uses_workers_but_not_more_than_tasks(tmp_path):
    from datatrove.executor.local import LocalPipelineExecutor

    ex = build_executor([_step], tasks=2, logging_dir=tmp_path, run=validate(RunConfig, {"workers": 5}), name="p")
    assert isinstance(ex, LocalPipelineExecutor) and (ex.tasks, ex.workers) == (2, 2)
