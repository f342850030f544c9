"""The one stage identity, completion record, device resolver and config merge."""

from safereflect.config import merge_config
from safereflect.device import resolve_device
from safereflect.stage import MARKER, clear_done, content_hash, done_with, mark_done, read_done


def test_content_hash_ignores_key_order_and_sees_every_value():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
    assert len(content_hash({})) == 16 and len(content_hash({}, 12)) == 12


def test_completion_record_is_found_only_for_its_key(tmp_path):
    assert read_done(tmp_path) is None
    mark_done(tmp_path, "eval", "k1", export="final")
    assert done_with(tmp_path, "k1")["export"] == "final"
    assert done_with(tmp_path, "k2") is None
    (tmp_path / MARKER).write_text("{not json")  # damaged: not finished
    assert read_done(tmp_path) is None
    clear_done(tmp_path)
    assert not (tmp_path / MARKER).exists()


def test_merge_config_merges_nested_keys_and_dotted_keys_without_changing_its_inputs():
    base = {"model": {"depth": 2, "head_dim": 16}, "lr": 1.0}
    top = {"model": {"depth": 4}, "tokenizer.vocab_size": 400, "lr": 2.0}
    merged = merge_config(base, top)
    assert merged == {"model": {"depth": 4, "head_dim": 16}, "lr": 2.0, "tokenizer": {"vocab_size": 400}}
    assert base == {"model": {"depth": 2, "head_dim": 16}, "lr": 1.0}
    merged["model"]["depth"] = 8
    assert top["model"]["depth"] == 4


def test_resolve_device_checks_names_and_resolves_auto():
    import pytest
    import torch

    from safereflect.errors import UserError

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        resolve_device("tpu")
