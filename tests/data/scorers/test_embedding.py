"""`safereflect scorer train` fits a head on a tiny encoder; the embedding scorer uses it."""

import json
import random

from safereflect.cli import app
from safereflect.config import validate
from safereflect.data.scorers import build_scorer
from safereflect.data.scorers.embedding import EmbeddingConfig


def _labelled(path, vocab, n=60):
    safe_words, unsafe_words = vocab
    rng = random.Random(0)
    with path.open("w") as fh:
        for i in range(n):
            unsafe = i % 2 == 1
            words = rng.sample(unsafe_words if unsafe else safe_words, 5)
            fh.write(json.dumps({"text": " ".join(words), "label": "Unsafe" if unsafe else "Safe"}) + "\n")


def test_train_head_then_score(tiny_encoder, tiny_vocab, tmp_path):
    from typer.testing import CliRunner

    data, head = tmp_path / "labelled.jsonl", tmp_path / "head"
    _labelled(data, tiny_vocab)
    res = CliRunner().invoke(
        app,
        [
            "scorer",
            "train",
            "--data",
            str(data),
            "--model",
            str(tiny_encoder),
            "--out",
            str(head),
            "--max-length",
            "32",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output and "F1" in res.output
    assert (head / "head.safetensors").is_file() and not list(head.glob("*.pkl"))
    meta = json.loads((head / "head.json").read_text())
    assert meta["classes"] == ["Safe", "Unsafe"] and meta["metrics"]["val_size"] == 12
    assert meta["metrics"]["accuracy"] >= 0.8

    scorer = build_scorer("emb", {"emb": validate(EmbeddingConfig, {"head": str(head)})})
    scores = scorer.score_texts(["poison harm kill overdose attack", "doctor treats patient with care"])
    assert [s.label for s in scores] == ["Unsafe", "Safe"]


def test_bad_training_file_is_a_clear_error(tiny_encoder, tmp_path):
    from typer.testing import CliRunner

    data = tmp_path / "bad.jsonl"
    data.write_text('{"text": "a", "label": "Safe"}\n{"text": "b"}\n')
    res = CliRunner().invoke(
        app, ["scorer", "train", "--data", str(data), "--model", str(tiny_encoder), "--out", str(tmp_path / "h")]
    )
    assert res.exit_code != 0
    assert "bad.jsonl:2" in str(res.exception) + res.output
