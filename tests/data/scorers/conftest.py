"""Tiny Hugging Face models built in the test session: a 2-layer BERT classifier and encoder
with a WordPiece tokenizer trained on a few sentences. No network."""

from __future__ import annotations

from pathlib import Path

import pytest

SAFE_WORDS = ["doctor", "treats", "patient", "with", "care", "and", "safe", "medicine", "every", "day"]
UNSAFE_WORDS = ["poison", "harm", "kill", "overdose", "attack", "weapon", "hurt", "victim"]


@pytest.fixture(scope="session")
def tiny_vocab() -> tuple[list[str], list[str]]:
    """(safe words, unsafe words): the words the tiny models' tokenizer knows."""
    return SAFE_WORDS, UNSAFE_WORDS


def _tokenizer(directory: Path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        [" ".join(SAFE_WORDS + UNSAFE_WORDS)] * 3,
        trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials, show_progress=False),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(str(directory))
    return fast


def _bert_config(vocab: int, **kw):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        **kw,
    )


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    import torch
    from transformers import BertForSequenceClassification

    directory = tmp_path_factory.mktemp("tiny_classifier")
    tok = _tokenizer(directory)
    torch.manual_seed(0)
    model = BertForSequenceClassification(
        _bert_config(len(tok), num_labels=2, id2label={0: "Safe", 1: "Unsafe"}, label2id={"Safe": 0, "Unsafe": 1})
    )
    model.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    import torch
    from transformers import BertModel

    directory = tmp_path_factory.mktemp("tiny_encoder")
    tok = _tokenizer(directory)
    torch.manual_seed(0)
    BertModel(_bert_config(len(tok)), add_pooling_layer=False).save_pretrained(str(directory))
    return directory
