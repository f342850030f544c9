"""RUN/metrics.jsonl, the run header, and optional TensorBoard, all on process 0 only.

Records carry a `kind`: "start" (run header: versions, git commit, device, sizes), "train"
(step, loss, lr, grad_norm, tokens, tokens_per_s, mfu) and "val" (val_loss, val_bpb). Every
record is flushed at once, so a killed run keeps what it logged. On resume the file is cut
back to the resumed step: records of steps that will be recomputed are dropped, so the file
reads as if the run had never stopped.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path
from typing import Any

import yaml
from rich.panel import Panel
from rich.table import Table

from safereflect.console import console
from safereflect.jsonl import BadRecord, dumps, iter_jsonl, write_jsonl


class MetricsLog:
    def __init__(self, run_dir: Path, *, resume_step: int | None, tensorboard: bool):
        self.path = run_dir / "metrics.jsonl"
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():
            kept = [
                r
                for r in iter_jsonl(self.path, skip_bad=True)
                if not isinstance(r, BadRecord) and r.get("step", 0) <= resume_step
            ]
            write_jsonl(self.path, kept)
        self._fh = self.path.open("a", encoding="utf-8")
        self._tb = _tensorboard_writer(run_dir / "tensorboard") if tensorboard else None

    def log(self, record: dict[str, Any]) -> None:
        self._fh.write(dumps(record) + "\n")
        self._fh.flush()
        if self._tb is not None and record.get("kind") in ("train", "val"):
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "kind"):
                    self._tb.add_scalar(f"{record['kind']}/{key}", value, record["step"])

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()


def _tensorboard_writer(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        console.print(
            "[yellow]tensorboard is not installed; logging to metrics.jsonl only[/] (pip install tensorboard)"
        )
        return None
    return SummaryWriter(str(log_dir))


def library_versions() -> dict[str, str | None]:
    versions = {}
    for name in ("torch", "transformers", "datatrove", "safereflect"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the safereflect source tree, if it is a git checkout with a commit."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            check=False,
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def print_header(config: dict[str, Any], facts: dict[str, Any]) -> None:
    table = Table.grid(padding=(0, 2))
    for key, value in facts.items():
        table.add_row(f"[bold]{key}[/]", str(value))
    console.print(Panel(table, title="safereflect train", expand=False))
    console.print(yaml.safe_dump(config, sort_keys=True).rstrip(), markup=False, highlight=False)
