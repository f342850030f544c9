"""Every experiment file the project ships validates offline (`run --dry-run`), so a config
that would fail hours into a run (e.g. warmup_steps >= max_steps) fails here instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from safereflect.cli import main

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


def test_the_project_ships_configs():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_a_shipped_config_passes_the_dry_run(path, capsys):
    try:
        main(["run", str(path), "--dry-run", "--device-name", "h100"])
        code = 0
    except SystemExit as exit_:
        code = exit_.code or 0
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "configuration valid" in " ".join((captured.out + captured.err).split())
