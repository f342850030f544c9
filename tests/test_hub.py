"""Hub loading pinned and safe: `org/name@revision`, safetensors only, no remote code, local paths as they are."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from safereflect.errors import UserError
from safereflect.hub import pretrained_args, split_revision


def test_revision_is_split_from_hub_ids_but_never_from_local_paths(tmp_path):
    assert split_revision("org/model@3f2a9c1") == ("org/model", "3f2a9c1")
    assert split_revision("org/model") == ("org/model", None)
    local = tmp_path / "run@2"
    local.mkdir()
    assert split_revision(local) == (str(local), None)
    with pytest.raises(UserError, match="empty revision"):
        split_revision("org/model@")


def test_pretrained_args_pin_hub_ids_and_leave_local_dirs_offline(tmp_path):
    name, kwargs = pretrained_args("org/model@v1.0")
    assert name == "org/model"
    assert kwargs == {"trust_remote_code": False, "revision": "v1.0", "use_safetensors": True}
    assert pretrained_args("org/model", "abc", weights=False)[1] == {"trust_remote_code": False, "revision": "abc"}
    assert pretrained_args(tmp_path, "abc")[1] == {"trust_remote_code": False, "use_safetensors": True}
    with pytest.raises(UserError, match="disagrees"):
        pretrained_args("org/model@a", "b")


@pytest.fixture
def recorded(monkeypatch):
    """Every from_pretrained call's (name, kwargs); the model load then fails as offline would."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    calls: list[tuple[str, dict]] = []

    def tokenizer(name, **kwargs):
        calls.append((name, kwargs))
        return SimpleNamespace(pad_token_id=0)

    def model(name, **kwargs):
        calls.append((name, kwargs))
        raise OSError("offline")

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", tokenizer)
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", model)
    return calls


def test_evaluation_and_finetuning_load_hub_models_pinned_with_safetensors(recorded):
    from safereflect.eval.lm import CausalLM
    from safereflect.train.finetune import load_model

    with pytest.raises(UserError, match="offline"):
        CausalLM.load("org/model@3f2a9c1", device="cpu")
    with pytest.raises(UserError, match="offline"):
        load_model("org/model@3f2a9c1")
    assert len(recorded) == 3
    for name, kwargs in recorded:
        assert name == "org/model" and kwargs["revision"] == "3f2a9c1" and kwargs["trust_remote_code"] is False
    weights = [kw for _, kw in recorded if "dtype" in kw]
    assert len(weights) == 2 and all(kw["use_safetensors"] is True for kw in weights)
