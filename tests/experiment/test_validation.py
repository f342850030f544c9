"""`run --dry-run` and `run`/`demo` catch what used to pass validation and fail hours later,
or fail with a traceback or an error about a key the user never set."""

from __future__ import annotations

import json

import pytest
import yaml

from safereflect.cli import main
from safereflect.cli.experiment import load_experiment
from safereflect.errors import UserError
from safereflect.experiment import variants
from safereflect.experiment.runner import check_stage_configs, eval_config

BASE = {"name": "v", "world": {"preset": "tiny"}, "arms": ["raw", "reflect"], "train": {"preset": "tiny"}}


def _file(tmp_path, **changes):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(BASE | {"out": str(tmp_path / "run")} | changes))
    return path


def _dry_run(capsys, path) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(path), "--dry-run"])
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err
    return exit_.value.code, err


def test_a_typo_in_world_overrides(tmp_path, capsys):
    path = _file(tmp_path, world={"preset": "tiny", "overrides": {"n_drugz": 3}})
    code, err = _dry_run(capsys, path)
    assert code == 2 and f"{path} (experiment v): world.overrides:" in err and "n_drugz: unknown key" in err


def test_a_missing_corpus_path(tmp_path, capsys):
    path = _file(tmp_path, world=None, corpus={"path": str(tmp_path / "no-corpus")}, eval={"suites": ["bpb"]})
    code, err = _dry_run(capsys, path)
    assert code == 2 and f"corpus: input not found: {tmp_path / 'no-corpus'}" in err


def test_a_train_section_error_names_the_experiment_file(tmp_path, capsys):
    path = _file(tmp_path, train={"preset": "tiny", "lr": -1})
    code, err = _dry_run(capsys, path)
    assert code == 2 and f"invalid configuration in {path} (experiment v): train for arm raw: lr:" in err
    assert "command line" not in err


def test_a_seed_beyond_32_bits_fails_the_dry_run(tmp_path, capsys):
    code, err = _dry_run(capsys, _file(tmp_path, seeds=[2**32]))
    assert code == 2 and "seeds[0]: Input should be less than or equal to 4294967295" in err


def test_cls_methods_without_probe_are_valid_for_every_arm(tmp_path):
    cfg = load_experiment(_file(tmp_path, eval={"cls": {"methods": ["zeroshot"]}}))
    primaries = {v.arm: eval_config(cfg, v, 0, tmp_path, None, None, tmp_path).cls.primary for v in variants(cfg)}
    assert primaries == {"raw": "zeroshot", "reflect": "zeroshot"}
    cfg = load_experiment(_file(tmp_path, eval={"cls": {"methods": ["probe", "ft"]}}))
    primaries = {v.arm: eval_config(cfg, v, 0, tmp_path, None, None, tmp_path).cls.primary for v in variants(cfg)}
    assert primaries == {"raw": "probe", "reflect": "probe"}  # the arm's own where the user's methods allow
    check_stage_configs(cfg)


@pytest.mark.parametrize("command", ["run", "demo"])
def test_an_output_path_that_is_a_file(tmp_path, capsys, command):
    (tmp_path / "taken").write_text("")
    args = (
        ["run", str(_file(tmp_path, out=str(tmp_path / "taken")))]
        if command == "run"
        else ["demo", "--out", str(tmp_path / "taken")]
    )
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = " ".join(capsys.readouterr().err.split())
    assert exit_.value.code == 2 and f"output path exists and is not a directory: {tmp_path / 'taken'}" in err
    assert "Traceback" not in err


def test_run_dir_reads_the_experiment_a_run_wrote(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "experiment.json").write_text(json.dumps(BASE | {"out": str(run)}))
    assert load_experiment(run).name == "v"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "a.yaml").write_text("name: a\n")
    with pytest.raises(UserError, match=r"is a directory, not an experiment file\n.*a.yaml"):
        load_experiment(tmp_path / "configs")


def test_world_suites_in_a_corpus_experiment(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "a"}\n')
    path = _file(tmp_path, world=None, corpus={"path": str(corpus)}, eval={"suites": ["realtext", "finetune"]})
    code, err = _dry_run(capsys, path)
    assert code == 2
    assert "<root>: eval.suites: finetune ask MedSafetyWorld probes, which a `corpus` experiment does not have" in err
    assert "(got {" not in err  # a check across keys does not dump the whole document
