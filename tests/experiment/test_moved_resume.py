"""A moved experiment whose training stage was interrupted resumes that training from its
last checkpoint (stage identities name inputs relative to the experiment, not by path)."""

import json

from safereflect.config import validate
from safereflect.experiment.config import ExperimentConfig
from safereflect.experiment.runner import run_experiment

EXPERIMENT = {
    "name": "tiny-moved",
    "world": {"preset": "tiny", "seed": 0},
    "arms": ["raw"],
    "prepare": {"tokenizer": {"vocab_size": 400}, "tasks": 1},
    "train": {"preset": "tiny", "seq_len": 64, "max_steps": 6, "warmup_steps": 1, "checkpoint_every": 3},
    "eval": {"max_probes": 4, "batch_size": 8, "suites": ["capability"]},
    "samples_per_arm": 0,
}


def test_moved_experiment_resumes_an_unfinished_training_stage(tmp_path):
    out = tmp_path / "run"
    run_experiment(validate(ExperimentConfig, EXPERIMENT | {"out": str(out)}))
    [train] = (out / "stages" / "train").iterdir()
    weights = (train / "final" / "model.safetensors").read_bytes()
    results = json.loads((out / "results.json").read_text())

    # interrupt the training stage after its first checkpoint: no record, no export, no last step
    (train / "_DONE.json").unlink()
    for path in [train / "final", train / "checkpoints" / "step_000006"]:
        for f in sorted(path.rglob("*"), reverse=True):
            f.unlink() if f.is_file() else f.rmdir()
        path.rmdir()
    moved = tmp_path / "moved"
    out.rename(moved)

    run_experiment(validate(ExperimentConfig, EXPERIMENT | {"out": str(moved)}))
    train = moved / "stages" / "train" / train.name  # the same stage directory, moved
    log = [json.loads(line) for line in (train / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "start"] == [0, 3]  # resumed, not restarted
    assert (train / "final" / "model.safetensors").read_bytes() == weights  # CPU resumes bit for bit
    assert json.loads((moved / "results.json").read_text())["arms"] == results["arms"]
