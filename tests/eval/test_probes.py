"""Probe sets cut to a limit: every set to its first N, classification balanced, a set's own limit first."""

from collections import Counter

from safereflect.eval.probes import Probes


def test_a_cut_classification_set_stays_balanced(tiny_world_dir):
    probes = Probes(tiny_world_dir, 6)
    cls = probes("classification")
    assert len(cls) == 6
    assert Counter(r["label"] for r in cls) == {"safe": 3, "unsafe": 3}
    assert len(probes("harmful_heldout")) == 6


def test_a_sets_own_limit_replaces_the_shared_one(tiny_world_dir):
    full = Probes(tiny_world_dir)
    probes = Probes(tiny_world_dir, 4, {"classification": 10, "safe_tasks": None})
    assert len(probes("classification")) == 10
    assert Counter(r["label"] for r in probes("classification")) == {"safe": 5, "unsafe": 5}
    assert len(probes("safe_tasks")) == 4  # None: the shared limit
    assert len(probes("ft_harmful")) == len(full("ft_harmful"))  # training data is never cut
