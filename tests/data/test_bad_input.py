"""Inputs that used to end in a traceback, a Hub lookup or "Aborted.": one clear line, exit 2."""

from __future__ import annotations

import gzip
import json

import pytest

from safereflect.cli import main
from safereflect.data.sources import InputConfig, resolve
from safereflect.errors import UserError


def _run(capsys, *args) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in args])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2 and "Traceback" not in err, err
    return err


def test_a_missing_local_path_is_not_looked_up_on_the_hub(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="input not found: nonexist_dir"):
        resolve(InputConfig(path="nonexist_dir"))
    assert resolve(InputConfig(path="HuggingFaceFW/fineweb-edu"))[0] == "hf"  # an owner/name id still is
    assert resolve(InputConfig(path="wikitext", format="hf"))[0] == "hf"  # and any name with format: hf
    assert "input not found: nonexist_dir" in _run(
        capsys, "prepare", "--arm", "raw", "--input", "nonexist_dir", "--out", tmp_path / "out"
    )


def test_an_unreachable_hub_dataset_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    err = _run(capsys, "prepare", "--arm", "raw", "--input", "someone/no-such-dataset", "--out", tmp_path / "out")
    assert "cannot load the Hugging Face dataset 'someone/no-such-dataset'" in err


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_a_damaged_gzip_file_is_named(tmp_path, capsys, damage):
    path = tmp_path / "in.jsonl.gz"
    blob = gzip.compress(b"".join(json.dumps({"id": str(i), "text": f"doc {i}"}).encode() + b"\n" for i in range(200)))
    path.write_bytes(blob[: len(blob) // 2] if damage == "truncated" else b'{"id": "a", "text": "plain"}\n')
    err = _run(capsys, "prepare", "--arm", "raw", "--input", path, "--out", tmp_path / "out")
    assert f"{path}: cannot be read " in err and "truncated or not in the format its name says" in err


def test_a_damaged_gzip_file_is_named_without_a_tokenizer_pass(tmp_path, shared_tokenizer, capsys):
    # with a tokenizer given there is no training pass: the first to read is the progress count
    path = tmp_path / "in.jsonl.gz"
    blob = gzip.compress(b"".join(json.dumps({"id": str(i), "text": f"doc {i}"}).encode() + b"\n" for i in range(2000)))
    path.write_bytes(blob[: len(blob) // 2])
    err = _run(
        capsys, "prepare", "--arm", "raw", "--input", path, "--out", tmp_path / "out", "--tokenizer", shared_tokenizer
    )
    assert f"{path}: cannot be read " in err


def test_inspect_needs_a_positive_count(prepared, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["inspect", str(prepared("raw")), "--n", "-3"])
    assert exit_.value.code == 2 and "--n" in capsys.readouterr().err
