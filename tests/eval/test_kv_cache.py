"""The in-place KV cache, and the fallback to transformers' own cache when its internal moves."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, cache_utils

from safereflect.eval import kv_cache
from safereflect.eval.config import DecodingConfig
from safereflect.eval.generate import generate
from safereflect.eval.reading import PLAIN

PROMPTS = ["Question: what does Kemium do? Answer:", "Kalanex thins the blood."]
GREEDY = DecodingConfig(max_new_tokens=10, stop=[])


@pytest.fixture
def fresh_support():
    """`_supported` is cached per transformers base class; start and end each test clean."""
    kv_cache._supported.cache_clear()
    yield
    kv_cache._supported.cache_clear()


def test_the_in_place_cache_is_used_on_this_transformers(fresh_support, capsys):
    cache = kv_cache.new_cache()
    assert type(cache).__name__ == "GrowingCache" and isinstance(cache, DynamicCache)
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("broken", ["missing", "changed"])
def test_fallback_to_dynamic_cache_when_the_internal_moves(tiny_lm, fresh_support, monkeypatch, capsys, broken):
    expected = [g.tokens for g in generate(tiny_lm, PROMPTS, GREEDY, reading=PLAIN)]
    capsys.readouterr()
    if broken == "missing":  # a release that renames or removes DynamicLayer
        monkeypatch.setattr(kv_cache, "_transformers_layer", lambda: getattr(cache_utils, "RenamedLayer", None))
    else:  # a release whose DynamicLayer initialises from the keys alone: DynamicCache works, ours would not

        class Changed(cache_utils.DynamicLayer):
            def lazy_initialization(self, key_states):
                super().lazy_initialization(key_states, key_states)

            def update(self, key_states, value_states, *args, **kwargs):
                if not self.is_initialized:
                    self.lazy_initialization(key_states)
                self.keys = torch.cat([self.keys, key_states], dim=-2)
                self.values = torch.cat([self.values, value_states], dim=-2)
                return self.keys, self.values

        monkeypatch.setattr(cache_utils, "DynamicLayer", Changed)
    cache = kv_cache.new_cache()
    assert type(cache) is DynamicCache
    assert [g.tokens for g in generate(tiny_lm, PROMPTS, GREEDY, reading=PLAIN)] == expected  # same outputs
    kv_cache.new_cache()
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "DynamicCache" in warnings[0]


def test_growing_cache_matches_dynamic_cache_through_crops_and_row_selection():
    ours, ref = kv_cache.new_cache(), DynamicCache()
    torch.manual_seed(0)
    for step in range(70):  # past the first buffer size (64), so the buffer grows
        k, v = torch.randn(3, 2, 1 if step else 5, 4), torch.randn(3, 2, 1 if step else 5, 4)
        for c in (ours, ref):
            c.update(k, v, 0)
            if step == 30:
                c.crop(-12)
    for c in (ours, ref):
        c.batch_select_indices(torch.tensor([2, 0]))
    assert ours.get_seq_length() == ref.get_seq_length()
    assert torch.equal(ours.layers[0].keys, ref.layers[0].keys)
    assert torch.equal(ours.layers[0].values, ref.layers[0].values)
