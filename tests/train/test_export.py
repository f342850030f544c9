"""Exports read correctly by plain transformers: token ids, KV cache, generation, old exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from safereflect.reflection import EOS_TOKEN, PAD_TOKEN
from safereflect.train import run_training

from .conftest import SPECIAL_TOKENS, overfit_config, write_tokens_dir

REFLECTED = "A nurse checked the warfarin label twice <think> Safe </think> before giving it."
PROMPT = "A nurse checked the warfarin label"


@pytest.fixture(scope="module")
def reflect_export(tokenizer, tmp_path_factory) -> Path:
    """A tiny model trained (through the real training path) on one reflected sentence, so
    its greedy continuation is known: past the reflection, then <|endoftext|>."""
    root = tmp_path_factory.mktemp("reflect")
    tokens = write_tokens_dir(root / "tokens", tokenizer, [REFLECTED] * 40, [REFLECTED] * 4, train_files=1)
    return run_training(overfit_config(tokens, root / "run", max_steps=60))


def test_export_names_the_tokenizers_ids_and_uses_the_cache(reflect_export, tokenizer):
    config = json.loads((reflect_export / "config.json").read_text())
    gen = json.loads((reflect_export / "generation_config.json").read_text())
    eos, pad = tokenizer.convert_tokens_to_ids(EOS_TOKEN), tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    assert (eos, pad) == (0, 1)
    for c in (config, gen):
        assert (c["bos_token_id"], c["eos_token_id"], c["pad_token_id"]) == (eos, eos, pad)
    assert config["use_cache"] is True and gen.get("use_cache", True) is True
    assert config["rope_theta"] == config["rope_parameters"]["rope_theta"] == 10000.0  # for transformers 4 readers
    tok_config = json.loads((reflect_export / "tokenizer_config.json").read_text())
    assert tok_config["eos_token"] == EOS_TOKEN and tok_config["pad_token"] == PAD_TOKEN
    assert tok_config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert tok_config["model_max_length"] == config["max_position_embeddings"]
    assert tok_config["additional_special_tokens"] == SPECIAL_TOKENS[2:]
    added = json.loads((reflect_export / "tokenizer.json").read_text())["added_tokens"]
    assert {t["content"] for t in added if t["special"]} == set(SPECIAL_TOKENS)


def test_plain_generate_goes_past_the_reflection_and_stops_at_endoftext(reflect_export):
    """No token id passed anywhere: everything generate needs comes from the export's files."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(reflect_export)
    model = AutoModelForCausalLM.from_pretrained(reflect_export)
    inputs = tok(PROMPT, return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=40)
    new = out[0, inputs["input_ids"].shape[1] :].tolist()
    text = tok.decode(new, skip_special_tokens=False)
    assert text == REFLECTED[len(PROMPT) :] + EOS_TOKEN
    assert new[-1] == tok.eos_token_id and len(new) < 40


def test_export_model_fixes_llama_config_defaults(tokenizer, tmp_path):
    """`export_model` is what train, finetune and the experiment's stages all write through."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from safereflect.train.export import export_model

    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=64,
            use_cache=False,
        )
    )
    assert (model.config.bos_token_id, model.config.eos_token_id) == (1, 2)  # transformers' defaults
    out = export_model(model, tokenizer, tmp_path / "final")
    gen = json.loads((out / "generation_config.json").read_text())
    assert (gen["bos_token_id"], gen["eos_token_id"], gen["pad_token_id"]) == (0, 0, 1)


def test_other_models_keep_their_authors_ids():
    """A hub model being finetuned (its own tokenizer) is exported as configured."""
    from types import SimpleNamespace

    from safereflect.train.export import align_token_ids

    config = SimpleNamespace(bos_token_id=1, eos_token_id=[2, 32007], pad_token_id=None, use_cache=True)
    model = SimpleNamespace(config=config, generation_config=None)
    tok = SimpleNamespace(eos_token="</s>", pad_token=None, eos_token_id=2, bos_token_id=1, pad_token_id=None)
    assert align_token_ids(model, tok) == []
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (1, [2, 32007], None)


def test_old_exports_are_fixed_on_load_with_one_warning(reflect_export, tmp_path, capsys):
    import shutil

    from safereflect.eval.lm import CausalLM

    old = shutil.copytree(reflect_export, tmp_path / "old")
    for name, values in (("config.json", {"use_cache": False}), ("generation_config.json", {})):
        data = json.loads((old / name).read_text())
        data.update(bos_token_id=1, eos_token_id=2, pad_token_id=None, **values)
        (old / name).write_text(json.dumps(data))
    lm = CausalLM.load(old, device="cpu")
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "eos_token_id 2 -> 0" in err
    assert lm.model.generation_config.eos_token_id == 0 and lm.model.config.use_cache is True
    with torch.no_grad():
        out = lm.model.generate(**lm.tok(PROMPT, return_tensors="pt"), max_new_tokens=40)
    assert out[0, -1].item() == 0

    CausalLM.load(reflect_export, device="cpu")
    assert "warning" not in capsys.readouterr().err
