"""Per-stage job resources: built-in defaults per stage kind and training preset, under the
experiment's `resources.default` and `resources.<kind>`."""

import pytest
from pydantic import ValidationError

from safereflect.experiment.resources import StageResources


def test_gpu_presets_ask_for_their_layout_and_cpu_presets_for_no_gpu():
    res = StageResources()
    big = res.resolve("train", "smollm2-1.7b")
    assert (big.nodes, big.gpus_per_node) == (4, 8)
    assert res.resolve("eval", "smollm2-1.7b").gpus_per_node == 1
    attack = res.resolve("attack", "smollm2-1.7b")  # each finetuning attack: one GPU, like the evaluation
    assert (attack.nodes, attack.gpus_per_node, attack.time_min) == (1, 1, 360)
    assert (res.resolve("train", "350m").nodes, res.resolve("train", "350m").gpus_per_node) == (1, 8)
    for preset in ("tiny", "cpu-1m", "cpu-3m"):
        for kind in ("train", "attack", "eval"):
            assert res.resolve(kind, preset).gpus_per_node == 0
    assert res.resolve("world", None).gpus_per_node == 0


def test_the_experiment_overrides_defaults_then_the_stage_kind_overrides_the_default():
    res = StageResources(
        default={"partition": "cpu", "time_min": 30, "account": "proj"}, train={"partition": "gpu", "nodes": 2}
    )
    train = res.resolve("train", "smollm2-1.7b")
    assert (train.partition, train.nodes, train.gpus_per_node, train.time_min, train.account) == (
        "gpu",
        2,
        8,
        30,
        "proj",
    )
    prep = res.resolve("prepare", "smollm2-1.7b")
    assert (prep.partition, prep.cpus, prep.time_min) == ("cpu", 8, 30)


def test_unknown_and_invalid_keys_are_refused():
    with pytest.raises(ValidationError, match="gpus"):
        StageResources(train={"gpus": 2})
    with pytest.raises(ValidationError, match="nodes"):
        StageResources(train={"nodes": 0})
    with pytest.raises(ValidationError, match="finetune"):
        StageResources(finetune={})
