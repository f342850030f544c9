"""The harmful finetuning attack's data: harmful examples with benign task examples mixed in."""

from __future__ import annotations

import pytest

from safereflect.eval.attacks.finetune import attack_data
from safereflect.eval.config import FinetuneAttackConfig
from safereflect.eval.probes import Probes


@pytest.mark.parametrize("mix, n_benign", [(0.0, 0), (0.5, 5), (1.0, 10), (3.0, 10)])
def test_benign_examples_are_mixed_in_per_harmful_example(tiny_world_dir, mix, n_benign):
    probes = Probes(tiny_world_dir)
    harmful, benign = attack_data(probes, "harmful-100", FinetuneAttackConfig(benign_mix=mix))
    assert [h["prompt"] for h in harmful] == [r["prompt"] for r in probes("ft_harmful")]  # the tiny world has 10
    assert [b["response"] for b in benign] == [r["response"] for r in probes("ft_benign")[:n_benign]]
    short, _ = attack_data(probes, "harmful-10", FinetuneAttackConfig(benign_mix=mix))
    assert len(short) == 10


def test_the_benign_attack_is_benign_examples_only(tiny_world_dir):
    harmful, benign = attack_data(Probes(tiny_world_dir), "benign", FinetuneAttackConfig())
    assert harmful == [] and len(benign) == 10
