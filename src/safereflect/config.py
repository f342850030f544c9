"""Pydantic config models loaded from YAML with readable, path-naming errors."""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from safereflect.errors import UserError
from safereflect.stage import content_hash

M = TypeVar("M", bound=BaseModel)

# numpy's legacy seeding (np.random.seed, used by the trainer and datatrove) takes 32 bits
MAX_SEED = 2**32 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    @model_validator(mode="before")
    @classmethod
    def _no_bool_as_number(cls, data: Any) -> Any:
        # pydantic's lax mode reads `max_steps: true` as 1. A boolean given for a number is
        # passed on as the word the user wrote, so the field fails with its own location.
        if isinstance(data, dict):
            bad = [
                k
                for k, v in data.items()
                if isinstance(v, bool) and k in cls.model_fields and _number_only(cls.model_fields[k].annotation)
            ]
            if bad:
                data = {**data, **{k: str(data[k]).lower() for k in bad}}
        return data

    def config_hash(self) -> str:
        """Stable short hash of the config's content (used to cache stage outputs)."""
        return content_hash(self.model_dump(mode="json"))


def _number_only(annotation: Any) -> bool:
    """Whether `annotation` takes numbers (int, float, optionally None) and nothing else."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(_number_only(a) for a in args)
    if origin is typing.Annotated:
        return _number_only(typing.get_args(annotation)[0])
    return annotation in (int, float)


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts.append(f"[{p}]")
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "<root>"


def _allowed_keys(model_cls: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """Field names of the (nested) model that owns the unknown key at `loc`."""
    cls: Any = model_cls
    for p in loc[:-1]:
        if isinstance(p, int):
            continue
        field = getattr(cls, "model_fields", {}).get(p)
        if field is None:
            return None
        ann = field.annotation
        # unwrap Optional[X] / list[X] / dict[str, X] to find a nested model
        candidates = [ann, *getattr(ann, "__args__", ())]
        nxt = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if nxt is None:
            return None
        cls = nxt
    fields = getattr(cls, "model_fields", None)
    return sorted(fields) if fields else None


def format_validation_error(err: ValidationError, model_cls: type[BaseModel], source: str) -> str:
    lines = [f"invalid configuration in {source}:"]
    for e in err.errors():
        loc = _loc(tuple(e["loc"]))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model_cls, tuple(e["loc"]))
            msg = "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
        elif e["type"] == "value_error" and not e["loc"]:
            # a check across keys: its message names them, and the input is the whole document
            msg = msg.removeprefix("Value error, ")
        elif "input" in e and e["type"] not in ("missing",):
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)


def validate(model_cls: type[M], data: Any, source: str = "config") -> M:
    """Validate a mapping into `model_cls`, raising `UserError` with every bad key named."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as err:
        raise UserError(format_validation_error(err, model_cls, source)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error, not
    "the last one wins"."""


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: the constructor below reports it
            continue
        if first is not None:
            raise DuplicateKeyError(
                None, None, f"duplicate key {key!r} (first given on line {first.line + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def parse_yaml(text: str) -> Any:
    """YAML text to Python values, refusing duplicate keys (raises yaml.YAMLError)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    if path.is_dir():
        raise UserError(
            f"{path} is a directory, not a config file",
            hint="give the YAML file itself, e.g. " + str(path / "config.yaml"),
        )
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        return parse_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None


def load_config(model_cls: type[M], path: str | Path, overrides: dict[str, Any] | None = None) -> M:
    """Load YAML at `path` into `model_cls`; `overrides` (dotted keys) win over the file."""
    data = load_yaml(path)
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of keys to values")
    for key, value in (overrides or {}).items():
        set_dotted(data, key, value)
    return validate(model_cls, data, str(path))


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    *parents, last = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[last] = value


def merge_config(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, recursively, without changing either: nested mappings merge key by
    key, anything else in `top` replaces; a dotted key ("model.depth") sets one nested value."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        if "." in key:
            set_dotted(out, key, copy.deepcopy(value))
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_config(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
