"""A killed `safereflect run` takes its parallel pipelines with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PARENT = textwrap.dedent(
    """
    import os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from safereflect.experiment.runner import die_with_parent

    def report_and_wait(path):
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(120)

    if __name__ == "__main__":
        ctx = get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            # two pipelines for one process: the second waits in the pool's queue, ready to start
            # the moment the first one ends
            for _ in range(2):
                pool.submit(report_and_wait, sys.argv[1])
            time.sleep(120)
    """
)


def running(pid: int) -> bool:
    """Alive and not a zombie (a container's PID 1 may never reap an orphan)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_pipeline_process_ends_when_the_run_that_started_it_is_killed(how, tmp_path):
    script, pid_file = tmp_path / "parent.py", tmp_path / "worker.pid"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)], cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not pid_file.is_file() or not pid_file.read_text():
        assert time.monotonic() < deadline and parent.poll() is None, "the worker never started"
        time.sleep(0.05)
    worker = int(pid_file.read_text())
    assert running(worker)

    os.kill(parent.pid, how)
    parent.wait()
    deadline = time.monotonic() + 10
    while running(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = running(worker)
    if alive:
        os.kill(worker, signal.SIGKILL)
    assert not alive, "the pipeline outlived its run"
