"""`scorer train`: every bad argument is one clear error, found before the encoder embeds anything."""

from __future__ import annotations

import json

import pytest

from safereflect.data import scorer_training
from safereflect.errors import UserError


@pytest.fixture
def no_embedding(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("embedded before the arguments were checked")

    monkeypatch.setattr(scorer_training, "embed_chunks", fail)


def _data(path, n):
    path.write_text("".join(json.dumps({"text": f"t{i}", "label": ["Safe", "Unsafe"][i % 2]}) + "\n" for i in range(n)))
    return path


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"val_fraction": 1.5}, "--val-fraction must be between 0 and 1"),
        ({"val_fraction": -0.1}, "--val-fraction must be between 0 and 1"),
        ({"val_fraction": 0.0}, "--val-fraction must be between 0 and 1"),
        ({"max_length": -1}, "--max-length must be at least 1"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_bad_arguments(tiny_encoder, tmp_path, no_embedding, kwargs, message):
    with pytest.raises(UserError, match=message):
        scorer_training.train_head(_data(tmp_path / "d.jsonl", 20), str(tiny_encoder), tmp_path / "h", **kwargs)


def test_too_few_records_and_an_output_file(tiny_encoder, tmp_path, no_embedding):
    with pytest.raises(UserError, match="2 records .*(too few|cannot be split)"):
        scorer_training.train_head(_data(tmp_path / "d.jsonl", 2), str(tiny_encoder), tmp_path / "h")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="output path exists and is not a directory"):
        scorer_training.train_head(_data(tmp_path / "d.jsonl", 20), str(tiny_encoder), tmp_path / "file")


def test_cuda_without_cuda(tiny_encoder, tmp_path, no_embedding, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="torch sees no CUDA device"):
        scorer_training.train_head(_data(tmp_path / "d.jsonl", 20), str(tiny_encoder), tmp_path / "h", device="cuda")
