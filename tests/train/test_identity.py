"""A run's identity names its data by content, so a moved run directory or data directory
still resumes; checkpoints that named the data by its absolute path still resume in place."""

import json

import pytest

from safereflect.errors import UserError
from safereflect.stage import mark_done
from safereflect.train.checkpoint import check_same_run
from safereflect.train.config import TrainConfig


def _checkpoint(run_dir, cfg, identity):
    """A complete checkpoint as written before manifests and content identities."""
    import torch
    from safetensors.torch import save_file

    ckpt = run_dir / "checkpoints" / "step_000004"
    ckpt.mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, ckpt / "model.safetensors")
    torch.save({}, ckpt / "optimizer.pt")
    (ckpt / "trainer_state.json").write_text(
        json.dumps({"step": 4, "config_hash": "written-earlier", "identity": identity})
    )
    return ckpt


def test_the_data_is_named_by_the_prepared_arms_identity_not_its_path(tmp_path):
    for arm in ("a", "b"):
        (tmp_path / arm / "tokens").mkdir(parents=True)
        mark_done(tmp_path / arm, "prepare", "same-key")
    a = TrainConfig(data=tmp_path / "a", out=tmp_path / "run")
    assert a.identity_hash() == TrainConfig(data=tmp_path / "b" / "tokens", out=tmp_path / "moved").identity_hash()
    mark_done(tmp_path / "b", "prepare", "other-key")
    assert a.identity_hash() != TrainConfig(data=tmp_path / "b", out=tmp_path / "run").identity_hash()
    # without a prepare record (shards from elsewhere, or an older record), the shards' meta.json
    (tmp_path / "b" / "_DONE.json").write_text('{"stage": "prepare", "value": "b"}')
    (tmp_path / "b" / "tokens" / "meta.json").write_text('{"vocab_size": 400}')
    assert TrainConfig(data=tmp_path / "b", out=tmp_path / "run").identity()["data"].startswith("meta:")


def test_a_checkpoint_that_named_its_data_by_path_resumes_in_place(tmp_path):
    (tmp_path / "arm" / "tokens").mkdir(parents=True)
    mark_done(tmp_path / "arm", "prepare", "k")
    cfg = TrainConfig(data=tmp_path / "arm", out=tmp_path / "run")
    legacy = cfg.identity() | {"data": str((tmp_path / "arm").resolve())}
    ckpt = _checkpoint(tmp_path / "run", cfg, legacy)
    assert check_same_run(tmp_path / "run", cfg) == ckpt
    with pytest.raises(UserError, match="lr"):  # another run's checkpoints stay an error, naming the key
        check_same_run(tmp_path / "run", cfg.model_copy(update={"lr": cfg.lr * 2}))


def test_the_plain_loss_keeps_the_identity_runs_had_before_verdict_weight(tmp_path):
    plain = TrainConfig(data=tmp_path / "a", out=tmp_path / "run")
    assert "verdict_weight" not in plain.identity()  # so earlier runs' keys and checkpoints still match
    weighted = TrainConfig(data=tmp_path / "a", out=tmp_path / "run", verdict_weight=5)
    assert weighted.identity()["verdict_weight"] == 5 and weighted.identity_hash() != plain.identity_hash()
