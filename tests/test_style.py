"""One style, enforced where CI runs: `ruff format` (line length 120, pyproject.toml) and
`ruff check` over the package, the tests and the benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATHS = ["src", "tests", "benchmarks"]


def _ruff() -> list[str]:
    if shutil.which("ruff", path=str(Path(sys.executable).parent)):
        return [str(Path(sys.executable).parent / "ruff")]
    pytest.importorskip("ruff", reason="ruff (the dev extra) is not installed")
    return [sys.executable, "-m", "ruff"]


@pytest.mark.parametrize("command", [["format", "--check"], ["check"]], ids=["format", "check"])
def test_ruff_passes(command):
    done = subprocess.run([*_ruff(), *command, *PATHS], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, f"ruff {' '.join(command)} failed; run `ruff {command[0]} src tests benchmarks`:\n" + (
        done.stdout + done.stderr
    )
