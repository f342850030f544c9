"""Decoding modes are the modules of eval/decoding/, named by file: the config, the arm policy and the
CLI accept exactly those, and `generate` runs the one a config names."""

from __future__ import annotations

from pathlib import Path

import pytest

from safereflect.config import validate
from safereflect.errors import UserError
from safereflect.eval import decoding
from safereflect.eval.config import DecodingConfig
from safereflect.eval.decoding import DECODINGS, decoder
from safereflect.eval.generate import generate
from safereflect.eval.reading import PLAIN
from safereflect.policy import ArmPolicy


def test_every_module_of_the_package_is_a_mode():
    files = {p.stem for p in Path(decoding.__file__).parent.glob("*.py") if not p.stem.startswith("_")}
    assert set(DECODINGS) == files >= {"plain", "monitored", "safebeam"}
    for name in DECODINGS:
        assert callable(decoder(name))


def test_an_unknown_mode_is_one_line_naming_the_key():
    with pytest.raises(UserError) as err:
        validate(DecodingConfig, {"mode": "beam"}, "eval.yaml")
    message = str(err.value)
    assert "mode" in message and "beam" in message and "safebeam" in message
    with pytest.raises(UserError):
        validate(ArmPolicy, {"role": "baseline", "decoding": "beam"}, "exp.yaml")
    assert validate(ArmPolicy, {"role": "baseline", "decoding": "safebeam"}).decoding == "safebeam"


def test_the_cli_offers_every_registered_mode():
    from safereflect.cli.evaluate import Decoding

    assert {d.value for d in Decoding} == set(DECODINGS)


def test_generate_runs_the_mode_the_config_names(scripted, monkeypatch):
    """A mode is found by its name and handed the prompts as read, cut to fit the new tokens."""
    seen = {}

    def decode(lm, prompts, encoded, dec, reading, max_new, stops):
        seen.update(prompts=prompts, encoded=encoded, reading=reading, max_new=max_new, stops=stops)
        return []

    monkeypatch.setitem(DECODINGS, "echo", "fake:decode")
    monkeypatch.setattr(decoding.importlib, "import_module", lambda name: type("M", (), {"decode": decode}))
    lm = scripted(lambda seq: {0: 1.0})
    dec = DecodingConfig.model_construct(**{**DecodingConfig().model_dump(), "mode": "echo"})
    generate(lm, ["Question: give?", [5, 6]], dec, reading=PLAIN, max_new_tokens=7, stop=["x"])
    assert seen["encoded"] == [lm.encode_context("Question: give?"), [5, 6]]
    assert (seen["reading"], seen["max_new"], seen["stops"]) == (PLAIN, 7, ["x"])
