"""Model shapes from the size dial and presets, parameter counts, FLOPs and device peaks."""

from __future__ import annotations

import pytest

from safereflect.errors import UserError
from safereflect.train.config import ModelShape
from safereflect.train.hardware import peak_flops
from safereflect.train.presets import TRAIN_PRESETS
from safereflect.train.shapes import resolve_shape


def preset_shape(name: str, vocab: int = 49152):
    p = TRAIN_PRESETS[name]
    return resolve_shape(ModelShape(**p["model"]), vocab_size=vocab, seq_len=p["seq_len"])


@pytest.mark.parametrize(
    "shape",
    [
        ModelShape(depth=2, aspect_ratio=32, head_dim=16),
        ModelShape(
            n_layers=2,
            hidden_size=48,
            n_heads=4,
            n_kv_heads=2,
            intermediate_size=96,
            tie_embeddings=False,
        ),
    ],
)
def test_analytic_parameter_count_matches_the_hf_model(shape):
    from transformers import LlamaForCausalLM

    s = resolve_shape(shape, vocab_size=400, seq_len=32)
    model = LlamaForCausalLM(s.llama_config())
    assert s.total_params == sum(p.numel() for p in model.parameters())
    assert s.vocab_size == 448  # padded up to a multiple of 64


def test_size_dial():
    s = preset_shape("125m")
    assert (s.n_layers, s.hidden_size, s.n_heads, s.n_kv_heads, s.intermediate_size) == (
        12,
        768,
        12,
        12,
        2048,
    )
    assert 120e6 < s.total_params < 130e6
    assert 330e6 < preset_shape("350m").total_params < 360e6
    assert 0.8e6 < preset_shape("cpu-1m").non_embedding_params < 1.2e6
    assert 2.5e6 < preset_shape("cpu-3m").non_embedding_params < 3.5e6
    assert preset_shape("tiny", vocab=400).total_params < 1e6


def test_smollm2_preset_has_the_published_shape():
    s = preset_shape("smollm2-1.7b")
    assert (s.n_layers, s.hidden_size, s.n_heads, s.intermediate_size) == (24, 2048, 32, 8192)
    assert s.tie_embeddings and s.rope_theta == 130000.0 and s.max_position_embeddings == 2048
    assert 1.70e9 < s.total_params < 1.72e9  # SmolLM2-1.7B: 1.71B with its 49152-token vocabulary


def test_flops_per_token_formula():
    s = preset_shape("tiny", vocab=400)
    matmul = s.non_embedding_params + s.vocab_size * s.hidden_size
    assert s.flops_per_token(64) == 6 * matmul + 12 * s.n_layers * s.hidden_size * 64


def test_vocab_smaller_than_the_tokenizer_is_a_user_error():
    with pytest.raises(UserError, match="model.vocab_size 100 is smaller than the tokenizer vocabulary \\(400"):
        resolve_shape(ModelShape(depth=2, vocab_size=100), vocab_size=400, seq_len=32)


@pytest.mark.parametrize(
    "name, peak",
    [
        ("NVIDIA H100 80GB HBM3", 989.4e12),
        ("NVIDIA H100 PCIe", 756.5e12),
        ("NVIDIA H200", 989.4e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A10G", 125e12),
        ("NVIDIA L4", 121e12),
        ("h100", 989.4e12),
        ("cpu", None),
        ("Tesla V100-SXM2-16GB", None),
    ],
)
def test_peak_flops_table(name, peak):
    assert peak_flops(name) == peak
