"""A KV cache that appends in place, with transformers' own cache as the fallback.

`DynamicCache` concatenates every new token onto the whole cache, copying all of it at every
step of every layer. Here each layer keeps a buffer that grows by doubling and hands the
model views of its filled part, so a decoding step writes one position. Cropping (monitored
decoding's verdict reads) only moves the fill mark. Greedy output is unchanged (tests compare
with `transformers.generate`); the saving shows in benchmarks/generation_throughput.py.

`GrowingLayer` subclasses `transformers.cache_utils.DynamicLayer`, an internal that is not part
of transformers' stable API (checked against 5.x; pyproject bounds transformers to <6).
`new_cache()` builds it only where that internal exists and a small self-check (update,
crop, row selection, against `DynamicCache`) passes; otherwise it says so once and returns a
`DynamicCache`: the same outputs, only slower decoding.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
from transformers import cache_utils
from transformers.cache_utils import Cache, DynamicCache

from safereflect.console import console


def growing_layer_class(base: type) -> type:
    """The in-place layer on top of transformers' `DynamicLayer` (`base`)."""

    class GrowingLayer(base):  # type: ignore[valid-type, misc]
        def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
            super().lazy_initialization(key_states, value_states)
            self.length = 0
            self.buffers: tuple[torch.Tensor, torch.Tensor] | None = None

        def _expose(self) -> None:
            k, v = self.buffers  # type: ignore[misc]
            self.keys, self.values = k[..., : self.length, :], v[..., : self.length, :]

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            end = self.length + key_states.shape[-2]
            if self.buffers is None or end > self.buffers[0].shape[-2]:
                capacity = max(end, 64, 2 * (self.buffers[0].shape[-2] if self.buffers else 0))
                shape = (*key_states.shape[:-2], capacity, key_states.shape[-1])
                grown = (key_states.new_empty(shape), value_states.new_empty(shape))
                if self.buffers is not None:
                    for new, old in zip(grown, self.buffers):
                        new[..., : self.length, :] = old[..., : self.length, :]
                self.buffers = grown
            self.buffers[0][..., self.length : end, :] = key_states
            self.buffers[1][..., self.length : end, :] = value_states
            self.length = end
            self._expose()
            return self.keys, self.values  # type: ignore[return-value]

        def get_seq_length(self) -> int:
            return self.length if self.is_initialized else 0

        def crop(self, tokens_to_remove: int) -> None:
            if tokens_to_remove > 0:
                raise ValueError("crop takes a negative number of tokens to remove")
            if self.is_initialized and tokens_to_remove:
                self.length += tokens_to_remove
                self._expose()

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            if self.is_initialized and self.buffers is not None:
                self.buffers = (self.buffers[0][indices], self.buffers[1][indices])
                self._expose()

        def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
            self.batch_select_indices(beam_idx)

    return GrowingLayer


def growing_cache_class(base: type) -> type:
    layer = growing_layer_class(base)

    class GrowingCache(DynamicCache):
        def __init__(self) -> None:
            Cache.__init__(self, layer_class_to_replicate=layer)

    return GrowingCache


def _self_check(cls: type) -> bool:
    """Does the growing cache behave like `DynamicCache` on this transformers version?"""
    try:
        ours, ref = cls(), DynamicCache()
        kv = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).view(2, 2, 3, 4)
        for c in (ours, ref):
            c.update(kv, -kv, 0)
            c.update(kv[..., :1, :], kv[..., :1, :], 0)
            c.crop(-1)  # the only cropping decoding does: drop the last tokens
            c.update(kv[..., 1:, :] + 1, kv[..., 1:, :], 0)
            c.batch_select_indices(torch.tensor([1]))
        return (
            ours.get_seq_length() == ref.get_seq_length() == 5
            and torch.equal(ours.layers[0].keys, ref.layers[0].keys)
            and torch.equal(ours.layers[0].values, ref.layers[0].values)
        )
    except Exception:  # noqa: BLE001  (any failure of the internals means: do not use them)
        return False


@cache
def _supported(base: type | None) -> type | None:
    """The growing cache class for this `DynamicLayer`, or None (after one warning line)."""
    cls = growing_cache_class(base) if base is not None else None
    if cls is not None and _self_check(cls):
        return cls
    import transformers

    console.print(
        f"[yellow]warning:[/] transformers {transformers.__version__}: the in-place KV cache does not fit "
        "this version's cache internals; decoding uses transformers' DynamicCache (same outputs, slower)",
        soft_wrap=True,  # one line, however narrow the terminal
    )
    return None


def _transformers_layer() -> type | None:
    return getattr(cache_utils, "DynamicLayer", None)


def new_cache() -> Cache:
    """An empty KV cache for one decoding run: the in-place one where supported."""
    cls = _supported(_transformers_layer())
    return cls() if cls is not None else DynamicCache()


# the class itself, for callers that need it (None where the internal is missing)
GrowingCache = _supported(_transformers_layer())
