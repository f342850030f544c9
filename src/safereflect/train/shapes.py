"""Concrete model dimensions, parameter counts and FLOPs per token, without building a model.

FLOPs per token (forward + backward) follow PaLM (Chowdhery et al. 2022, app. B) and nanochat:

    6 * N  +  12 * L * d * T

N counts every weight that takes part in a matrix multiply: all parameters except the input
embedding table, plus the output projection (counted even when it is tied to the embedding,
since the multiply happens either way). The second term is attention's score and value
products (L layers, width d = heads x head_dim, sequence length T), which have no weights.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from safereflect.errors import UserError
from safereflect.train.config import ModelShape


@dataclass(frozen=True)
class LlamaShape:
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_embeddings: bool
    rope_theta: float
    norm_eps: float
    init_std: float
    max_position_embeddings: int

    def llama_config(self):
        # transformers takes seconds to import; dry runs and config errors never need it.
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.n_layers,
            num_attention_heads=self.n_heads,
            num_key_value_heads=self.n_kv_heads,
            head_dim=self.head_dim,
            max_position_embeddings=self.max_position_embeddings,
            rms_norm_eps=self.norm_eps,
            initializer_range=self.init_std,
            rope_theta=self.rope_theta,
            tie_word_embeddings=self.tie_embeddings,
            use_cache=False,
            attention_bias=False,
            mlp_bias=False,
        )

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size

    @property
    def layer_params(self) -> int:
        d, hd = self.hidden_size, self.head_dim
        attention = d * self.n_heads * hd * 2 + d * self.n_kv_heads * hd * 2  # q, o and k, v
        mlp = 3 * d * self.intermediate_size  # gate, up, down (SwiGLU)
        return attention + mlp + 2 * d  # two RMSNorm weights

    @property
    def total_params(self) -> int:
        head = 0 if self.tie_embeddings else self.embedding_params
        return self.embedding_params + self.n_layers * self.layer_params + self.hidden_size + head

    @property
    def non_embedding_params(self) -> int:
        return self.n_layers * self.layer_params + self.hidden_size

    def flops_per_token(self, seq_len: int) -> int:
        matmul_params = self.non_embedding_params + self.embedding_params  # + the output projection
        return 6 * matmul_params + 12 * self.n_layers * self.n_heads * self.head_dim * seq_len

    def as_dict(self) -> dict:
        return asdict(self)


def resolve_shape(shape: ModelShape, *, vocab_size: int, seq_len: int) -> LlamaShape:
    """Dimensions from the dial and explicit fields; `vocab_size` is the tokenizer's (meta.json)."""
    depth = shape.depth
    n_layers = shape.n_layers or depth
    hidden = shape.hidden_size or depth * shape.aspect_ratio
    if shape.n_heads:
        n_heads = shape.n_heads
    else:
        if hidden % shape.head_dim:
            raise UserError(
                f"model: hidden size {hidden} is not a multiple of head_dim {shape.head_dim}; "
                "set model.head_dim, model.aspect_ratio or model.n_heads"
            )
        n_heads = hidden // shape.head_dim
    if hidden % n_heads:
        raise UserError(f"model: hidden size {hidden} is not a multiple of n_heads {n_heads}")
    n_kv_heads = shape.n_kv_heads or max(1, n_heads // shape.kv_group)
    if n_heads % n_kv_heads:
        raise UserError(f"model: n_heads {n_heads} is not a multiple of n_kv_heads {n_kv_heads}")
    intermediate = shape.intermediate_size or 64 * math.ceil(shape.mlp_ratio * hidden / 64)

    if shape.vocab_size is None:
        vocab = shape.vocab_multiple * math.ceil(vocab_size / shape.vocab_multiple)
    elif shape.vocab_size < vocab_size:
        raise UserError(
            f"model.vocab_size {shape.vocab_size} is smaller than the tokenizer vocabulary "
            f"({vocab_size} in the shards' meta.json): token ids up to {vocab_size - 1} would "
            "index past the embedding table",
            hint="remove model.vocab_size to take it from meta.json",
        )
    else:
        vocab = shape.vocab_size
    return LlamaShape(
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=hidden // n_heads,
        intermediate_size=intermediate,
        vocab_size=vocab,
        tie_embeddings=shape.tie_embeddings,
        rope_theta=shape.rope_theta,
        norm_eps=shape.norm_eps,
        init_std=shape.init_std,
        max_position_embeddings=shape.max_position_embeddings or seq_len,
    )
