"""A KV cache that appends in place.

`DynamicCache` concatenates every new token onto the whole cache, copying all of it at every
step of every layer. Here each layer keeps a buffer that grows by doubling and hands the
model views of its filled part, so a decoding step writes one position. Cropping (monitored
decoding's verdict reads) only moves the fill mark. Greedy output is unchanged (tests compare
with `transformers.generate`); the saving shows in benchmarks/generation_throughput.py.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer


class GrowingLayer(DynamicLayer):
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


class GrowingCache(DynamicCache):
    def __init__(self) -> None:
        Cache.__init__(self, layer_class_to_replicate=GrowingLayer)
