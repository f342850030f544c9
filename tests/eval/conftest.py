"""Tiny models for the evaluation tests: a random 2-layer Llama with a byte-level BPE trained
on the tiny world's documents, and a scripted LM whose next token is a rule of its history."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from safereflect.reflection import DEFAULT_FORMAT


def build_tokenizer(texts: list[str], vocab_size: int = 512):
    from safereflect.data.tokenizer import TokenizerConfig, hf_tokenizer, train_tokenizer

    return hf_tokenizer(train_tokenizer(texts, TokenizerConfig(vocab_size=vocab_size), DEFAULT_FORMAT), DEFAULT_FORMAT)


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    """Tiny models gain nothing from intra-op threads, and on a shared 2-core machine the
    threads' spin-waiting makes every forward pass many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_world_dir, tmp_path_factory) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    texts = [json.loads(line)["text"] for f in sorted((tiny_world_dir / "corpus").glob("*.jsonl")) for line in f.open()]
    tok = build_tokenizer(texts)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=0.2,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    out = tmp_path_factory.mktemp("tiny_llama")
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    from safereflect.eval.lm import CausalLM

    return CausalLM.load(tiny_model_dir, device="cpu", batch_size=4)


class ScriptedLM(torch.nn.Module):
    """A causal LM whose next-token logits are `rule(history)`.

    The history is kept in a real `DynamicCache` (token ids stored as the keys), so cropping,
    row selection and left padding behave as they do for a transformer."""

    def __init__(self, vocab_size: int, rule: Callable[[list[int]], dict[int, float]]):
        super().__init__()
        self.rule = rule
        self.config = SimpleNamespace(vocab_size=vocab_size, max_position_embeddings=1024)
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    def forward(self, input_ids, attention_mask=None, past_key_values=None, logits_to_keep=0, **_):
        from transformers import DynamicCache

        cache = past_key_values if past_key_values is not None else DynamicCache()
        x = input_ids[:, None, :, None].float()
        keys, _ = cache.update(x, x, 0)
        history = keys[:, 0, :, 0].long()
        mask = attention_mask if attention_mask is not None else torch.ones_like(history)
        rows, new, total = input_ids.shape[0], input_ids.shape[1], history.shape[1]
        logits = torch.zeros((rows, new, self.config.vocab_size))
        for b in range(rows):
            for j in range(new):
                upto = total - new + j + 1
                seq = [int(t) for t, m in zip(history[b, :upto], mask[b, :upto]) if m]
                for token, value in self.rule(seq).items():
                    logits[b, j, token] = value
        if logits_to_keep:
            logits = logits[:, -logits_to_keep:]
        return SimpleNamespace(logits=logits, past_key_values=cache)


@pytest.fixture(scope="session")
def scripted(tiny_model_dir):
    """Build a `CausalLM` around a `ScriptedLM` with the tiny tokenizer: `scripted(rule)`."""
    from transformers import AutoTokenizer

    from safereflect.eval.lm import CausalLM

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)

    def make(rule: Callable[[list[int]], dict[int, float]], batch_size: int = 4) -> CausalLM:
        return CausalLM(ScriptedLM(len(tok), rule), tok, batch_size=batch_size)

    make.tok = tok  # type: ignore[attr-defined]
    return make
