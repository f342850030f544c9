"""Where a model to evaluate lives: an export dir, a training run dir or a hub name.

Kept apart from `lm` so that a wrong path is reported before torch is imported.
"""

from __future__ import annotations

import re
from pathlib import Path

from safereflect.errors import UserError

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")  # org/name, optionally @revision


def resolve_model(spec: str | Path) -> str:
    """A local export dir, a training run dir (its `final/` export) or a hub name (`org/name@revision` pins it)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        for candidate in (path, path / "final"):
            if (candidate / "config.json").is_file():
                return str(candidate)
        raise UserError(f"{path}: not a model directory (no config.json here or in {path / 'final'})")
    if path.exists():
        raise UserError(f"{path}: expected a model directory, got a file")
    # "org/name" is a hub id unless "org" is a local directory (then it is a missing path)
    if _HUB_ID.match(str(spec)) and not str(spec).startswith((".", "~")) and not Path(path.parts[0]).exists():
        return str(spec)
    raise UserError(f"model directory not found: {spec}")
