"""The report's "how each metric was measured" comes from every evaluation's judges.json."""

from __future__ import annotations

import json

import pytest

from safereflect.errors import UserError
from safereflect.experiment.runner import methods


def _eval(tmp_path, name: str, notes) -> str:
    d = tmp_path / name
    d.mkdir()
    (d / "judges.json").write_text(json.dumps(notes))
    return str(d)


def test_arms_measured_alike_share_a_line_and_different_ways_name_their_arms(tmp_path):
    plain, written = "after harmful-100 finetuning", "after harmful-100 finetuning; written in the model's reading"
    runs = [
        {"seed": 0, "variant": "raw", "eval": _eval(tmp_path, "raw-s0", {"asr": "oracle", "ft": plain})},
        {"seed": 0, "variant": "reflect", "eval": _eval(tmp_path, "reflect-s0", {"asr": "oracle", "ft": written})},
        {"seed": 0, "variant": "tag", "eval": str(tmp_path / "not-run")},  # no judges.json: nothing recorded
        # later seeds are the same evaluations on other worlds: not listed again
        {"seed": 1, "variant": "raw", "eval": _eval(tmp_path, "raw-s1", {"asr": "oracle world 1", "ft": plain})},
    ]
    assert methods(runs) == {"asr": {"oracle": ["raw", "reflect"]}, "ft": {plain: ["raw"], written: ["reflect"]}}


def test_a_corrupt_judges_file_is_one_clear_error(tmp_path):
    bad = _eval(tmp_path, "raw-s0", ["not", "a", "mapping"])
    with pytest.raises(UserError, match=r"raw-s0/judges\.json: not a JSON object"):
        methods([{"seed": 0, "variant": "raw", "eval": bad}])
    (tmp_path / "raw-s0" / "judges.json").write_text("{truncated")
    with pytest.raises(UserError, match="not valid JSON"):
        methods([{"seed": 0, "variant": "raw", "eval": bad}])
