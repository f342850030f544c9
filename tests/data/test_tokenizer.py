import json

from safereflect.data.tokenizer import (
    TokenizerConfig,
    adopt_tokenizer,
    save_tokenizer,
    train_tokenizer,
)
from safereflect.reflection import DEFAULT_FORMAT, TAG_TOKEN

from .conftest import records


def test_training_is_deterministic_and_knows_the_special_tokens(tiny_world_dir):
    texts = [r["text"] for r in records(tiny_world_dir / "corpus")]
    a = train_tokenizer(texts, TokenizerConfig(vocab_size=600), DEFAULT_FORMAT)
    b = train_tokenizer(texts, TokenizerConfig(vocab_size=600), DEFAULT_FORMAT)
    assert a.to_str() == b.to_str()
    enc = a.encode(f"Give X.{TAG_TOKEN} <think> Safe </think>", add_special_tokens=False)
    assert {TAG_TOKEN, "<think>", "</think>"} <= set(enc.tokens)
    assert "ĠSafe" in a.get_vocab()  # the reflection strings are in the training data


def test_saved_tokenizer_loads_with_autotokenizer(shared_tokenizer):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(shared_tokenizer))
    assert tok.eos_token == "<|endoftext|>" and tok.pad_token == "<|pad|>"
    text = "Hello. <think> Unsafe: Patient Harm </think>"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_an_existing_tokenizer_gets_our_special_tokens(tiny_world_dir, tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    plain = Tokenizer(models.BPE())
    plain.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    plain.train_from_iterator(
        ["some text to learn from"] * 5,
        trainers.BpeTrainer(vocab_size=300, show_progress=False, special_tokens=["</s>"]),
    )
    PreTrainedTokenizerFast(tokenizer_object=plain, eos_token="</s>").save_pretrained(str(tmp_path / "foreign"))
    adopt_tokenizer(str(tmp_path / "foreign"), tmp_path / "ours", DEFAULT_FORMAT)
    vocab = Tokenizer.from_file(str(tmp_path / "ours" / "tokenizer.json")).get_vocab(with_added_tokens=True)
    assert {"<|endoftext|>", "<|pad|>", "<think>", "</think>", TAG_TOKEN} <= set(vocab)
    assert json.loads((tmp_path / "ours" / "tokenizer_config.json").read_text())["eos_token"] == "<|endoftext|>"


def test_one_arms_tokenizer_is_copied_byte_for_byte(shared_tokenizer, tmp_path):
    adopt_tokenizer(str(shared_tokenizer), tmp_path / "copy", DEFAULT_FORMAT)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "copy" / name).read_bytes() == (shared_tokenizer / name).read_bytes()


def test_save_tokenizer_writes_a_hf_directory(tmp_path, tiny_world_dir):
    tok = train_tokenizer(["a b c"] * 10, TokenizerConfig(vocab_size=300), DEFAULT_FORMAT)
    save_tokenizer(tok, tmp_path / "t", DEFAULT_FORMAT)
    assert (tmp_path / "t" / "tokenizer.json").is_file() and (tmp_path / "t" / "tokenizer_config.json").is_file()
