"""The command line: bad input gives one clear error and exit code 2, never a traceback;
--skip-bad counts and excludes bad records instead."""

import json
import os
import subprocess
import sys

import pytest

from safereflect.cli import main

from .conftest import records

GOOD = '{"id": "a", "text": "A fine document. It has two sentences."}\n'


def _write(path, *lines: bytes):
    path.write_bytes(b"".join(lines))
    return path


def _cli(*args) -> tuple[int, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "safereflect", *map(str, args)], capture_output=True, text=True, env=env, check=False
    )
    return res.returncode, res.stdout + res.stderr


@pytest.mark.parametrize(
    "bad, message",
    [
        (b'{"id": "b", "text": \n', "malformed JSON"),
        (b'{"id": "b"}\n', "missing field 'text'"),
        (b'{"id": "b", "text": "caf\xe9"}\n', "invalid UTF-8"),
    ],
)
def test_bad_record_is_one_clear_error(tmp_path, capsys, bad, message):
    path = _write(tmp_path / "in.jsonl", GOOD.encode(), bad, GOOD.encode())
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "--arm", "raw", "--input", str(path), "--out", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2
    assert f"{path}:2: {message}" in err and "--skip-bad" in err and "Traceback" not in err


def test_bad_record_found_by_a_worker_is_one_clear_error(tmp_path, shared_tokenizer):
    # with a tokenizer given there is no training pass: the error comes from a datatrove task
    path = _write(tmp_path / "in.jsonl", GOOD.encode(), GOOD.encode(), b"not json\n")
    code, output = _cli(
        "prepare", "--arm", "raw", "--input", path, "--out", tmp_path / "out", "--tokenizer", shared_tokenizer
    )
    assert code == 2, output
    assert f"{path}:3: malformed JSON" in " ".join(output.split()) and "Traceback" not in output


def test_skip_bad_counts_and_excludes_every_bad_record(tmp_path, shared_tokenizer):
    path = _write(
        tmp_path / "in.jsonl",
        GOOD.encode(),
        b'{"id": "b", "text": \n',
        b'{"id": "c"}\n',
        b"\xff\xfe\n",
        b'{"id": "e", "text": "   "}\n',
        GOOD.replace(b'"a"'.decode(), '"f"').encode(),
    )
    code, output = _cli(
        "prepare",
        "--arm",
        "raw",
        "--input",
        path,
        "--out",
        tmp_path / "out",
        "--skip-bad",
        "--tokenizer",
        shared_tokenizer,
    )
    assert code == 0, output
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["documents"] == {"in": 6, "kept": 2, "changed": 0, "dropped": {"bad_record": 3, "empty": 1}}
    excluded = records(tmp_path / "out" / "excluded")
    assert sorted(e["metadata"]["excluded_reason"] for e in excluded) == ["bad_record"] * 3 + ["empty"]
    assert any(f"{path}:4: invalid UTF-8" in e["metadata"].get("excluded_detail", "") for e in excluded)


def test_a_wrong_config_key_names_the_key_and_the_allowed_ones(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("arm: reflect\ninput: {path: x}\nout: y\ninterventions:\n  reflect: {segment_wordz: 3}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "--config", str(cfg)])
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2
    assert "interventions.reflect.segment_wordz: unknown key" in err and "segment_words" in err


def test_a_wrong_value_names_the_allowed_values(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--arm", "reflect", "--input", "x", "--out", str(tmp_path), "--after-unsafe", "stop"])
    err = " ".join(capsys.readouterr().err.split())
    assert "interventions.reflect.after_unsafe" in err and "'end', 'noise' or 'continue'" in err


@pytest.mark.parametrize("command", [["prepare"], ["inspect"], ["scorer", "train"]])
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0 and "Examples" in capsys.readouterr().out


def test_inspect_shows_documents_with_reflections(prepared, capsys):
    out = prepared("reflect", interventions__reflect__segment_words=12)
    with pytest.raises(SystemExit) as exit_:
        main(["inspect", str(out), "--n", "2", "--unsafe-only"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    assert "Unsafe: Patient Harm" in shown and shown.count("oracle: Unsafe") == 2
