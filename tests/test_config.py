"""Config loading: every bad YAML or value is one UserError naming the file, line or key;
random malformed configs never escape as anything else (hypothesis)."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safereflect.config import load_config, load_yaml, parse_yaml, validate
from safereflect.data.config import PrepareConfig
from safereflect.errors import UserError
from safereflect.eval.config import EvalConfig
from safereflect.experiment import ExperimentConfig
from safereflect.train.config import TrainConfig


def test_a_duplicate_key_names_the_file_line_and_key(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("lr: 1.0e-3\nmodel:\n  depth: 2\n  depth: 4\n")
    with pytest.raises(
        UserError,
        match=r"train.yaml:4:3: not valid YAML \(duplicate key 'depth' \(first given on "
        r"line 3\)\)",
    ):
        load_yaml(path)
    assert parse_yaml("a: {b: 1}\nc: [1, 2]\n") == {"a": {"b": 1}, "c": [1, 2]}  # otherwise the safe loader


@pytest.mark.parametrize("key, value", [("max_steps", True), ("lr", False), ("model.depth", True)])
def test_a_boolean_is_not_a_number(key, value):
    data = {"data": "d", "out": "o", "max_steps": 10}
    parent, _, leaf = key.rpartition(".")
    (data.setdefault(parent, {}) if parent else data)[leaf] = value
    with pytest.raises(
        UserError, match=rf"{key}: Input should be a valid (integer|number).*got '{str(value).lower()}'"
    ):
        validate(TrainConfig, data, "t.yaml")
    assert validate(TrainConfig, {"data": "d", "out": "o", "max_steps": 10, "tensorboard": True}).tensorboard


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seeds_outside_32_bits_are_refused_everywhere(seed):
    for model, data, key in (
        (TrainConfig, {"data": "d", "out": "o"}, "seed"),
        (PrepareConfig, {"arm": "raw", "input": {"path": "x"}, "out": "o"}, "seed"),
        (EvalConfig, {"model": "m", "out": "o"}, "seed"),
        (ExperimentConfig, {"name": "n"}, "seeds"),
    ):
        with pytest.raises(UserError, match=key):
            validate(model, {**data, key: [seed] if key == "seeds" else seed})
    assert validate(TrainConfig, {"data": "d", "out": "o", "seed": 2**32 - 1}).seed == 2**32 - 1


def test_a_directory_given_as_config_is_named(tmp_path):
    with pytest.raises(UserError, match="is a directory, not a config file"):
        load_yaml(tmp_path)


# --- property: whatever the YAML, a clean error or a config -----------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
TRAIN_KEYS = sorted(TrainConfig.model_fields) + ["bogus", "model.depth", "model.bogus"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.dictionaries(st.sampled_from(TRAIN_KEYS), values, max_size=5))
def test_random_train_configs_give_a_config_or_one_user_error(picks):
    data = {"data": "d", "out": "o"}
    for key, value in picks.items():
        parent, _, leaf = key.rpartition(".")
        target = data.setdefault(parent, {}) if parent else data
        if isinstance(target, dict):
            target[leaf] = value
    try:
        validate(TrainConfig, data, "random.yaml")
    except UserError as err:
        assert str(err).startswith("invalid configuration in random.yaml:")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.one_of(st.text(max_size=80), values.map(lambda v: yaml.safe_dump(v) if v is not None else "")),
    dup=st.booleans(),
)
def test_random_yaml_files_give_a_config_or_one_user_error(tmp_path, text, dup):
    path = tmp_path / "random.yaml"
    path.write_text(text + ("\nname: a\nname: b\n" if dup else ""), encoding="utf-8")
    for model in (PrepareConfig, ExperimentConfig):
        try:
            load_config(model, path)
        except UserError as err:
            assert "random.yaml" in str(err)
