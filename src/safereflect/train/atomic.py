"""Directory-level atomic writes: build in a hidden sibling, fsync, then rename into place.

A process killed at any point leaves either the old directory, the complete new one, or a
hidden `.tmp-*`/`.trash-*` leftover that `clean_leftovers` removes; never a half-written
directory under the real name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def staging_dir(final: Path) -> Path:
    """A fresh, empty hidden directory beside `final` to write into."""
    tmp = final.with_name(f".tmp-{final.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def publish_dir(tmp: Path, final: Path) -> Path:
    """Make the finished `tmp` visible as `final` (replacing an existing `final`)."""
    _fsync_tree(tmp)
    if final.exists():
        remove_dir(final)
    os.rename(tmp, final)
    _fsync(final.parent)
    return final


def remove_dir(path: Path) -> None:
    # Rename first: a kill during rmtree must not leave a half-deleted dir under a real name.
    trash = path.with_name(f".trash-{path.name}")
    shutil.rmtree(trash, ignore_errors=True)
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def clean_leftovers(parent: Path) -> None:
    if parent.is_dir():
        for p in parent.iterdir():
            if p.name.startswith((".tmp-", ".trash-")) and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    _fsync(root)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
