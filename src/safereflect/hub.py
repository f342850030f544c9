"""Loading with `from_pretrained`, pinned and safe.

A model or tokenizer reference is a local directory or a Hugging Face Hub id, which may be
pinned to a commit, tag or branch as `org/name@revision` (or with an explicit `revision`).
Every load goes through `pretrained_args`: safetensors weights only (a pickled
`pytorch_model.bin` can run code when unpickled), never `trust_remote_code`, and the pinned
revision for hub ids. Local directories are passed through untouched and load offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safereflect.errors import UserError


def split_revision(ref: str | Path) -> tuple[str, str | None]:
    """(`org/name`, `revision`) from `org/name@revision`; a local path is never split."""
    text = str(ref)
    if Path(text).expanduser().exists() or "@" not in text:
        return text, None
    name, revision = text.rsplit("@", 1)
    if not revision:
        raise UserError(f"{text}: empty revision after '@' (write org/name@COMMIT, or leave out the '@')")
    return name, revision


def pretrained_args(
    ref: str | Path, revision: str | None = None, *, weights: bool = True
) -> tuple[str, dict[str, Any]]:
    """The name and keyword arguments for `from_pretrained(name, **kwargs)`.

    `weights`: the call loads weights (a model), so safetensors is required; tokenizers and
    configs have no weights."""
    name, pinned = split_revision(ref)
    if revision and pinned and revision != pinned:
        raise UserError(f"{ref}: revision {pinned!r} in the name disagrees with revision {revision!r}")
    kwargs: dict[str, Any] = {"trust_remote_code": False}
    rev = revision or pinned
    if rev and not Path(name).expanduser().exists():
        kwargs["revision"] = rev
    if weights:
        kwargs["use_safetensors"] = True
    return name, kwargs
