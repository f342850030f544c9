"""The tokenizer every arm of an experiment shares.

Either a byte-level BPE trained on the raw corpus plus the reflection strings (so that
`Safe`, `Unsafe` and the categories get their own tokens), or an existing Hugging Face
tokenizer with our special tokens added. Training depends only on the input and these
settings, never on the arm, so arms prepared separately from the same input get the same
tokenizer; passing one arm's `tokens/tokenizer` to the others makes that explicit.
Saved with `PreTrainedTokenizerFast.save_pretrained`, so `AutoTokenizer` loads it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import Field

from safereflect.config import StrictModel
from safereflect.errors import UserError
from safereflect.reflection import EOS_TOKEN, PAD_TOKEN, TAG_TOKEN, ReflectionFormat


class TokenizerConfig(StrictModel):
    path: str | None = Field(
        None,
        description="existing tokenizer (another arm's tokens/tokenizer, a HF directory or hub name); "
        "default: train one on the raw input",
    )
    vocab_size: int = Field(4096, ge=300, description="vocabulary of a trained tokenizer, special tokens included")
    min_frequency: int = Field(2, ge=1)
    train_docs: int = Field(200_000, ge=1, description="input documents a trained tokenizer sees at most")


def special_tokens(fmt: ReflectionFormat) -> list[str]:
    return list(dict.fromkeys([EOS_TOKEN, PAD_TOKEN, *fmt.special_tokens, TAG_TOKEN]))


def _with_reflections(texts: Iterable[str], fmt: ReflectionFormat) -> Iterator[str]:
    # about as often as they occur in a reflected corpus: a safe one per document, flagged ones rarely
    for i, text in enumerate(texts):
        yield text
        yield fmt.render("safe")
        if i % 10 == 0:
            yield fmt.render("unsafe") + fmt.render("controversial")


def train_tokenizer(texts: Iterable[str], cfg: TokenizerConfig, fmt: ReflectionFormat):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=special_tokens(fmt),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_with_reflections(texts, fmt), trainer)
    return tok


def adopt_tokenizer(path: str, directory: Path, fmt: ReflectionFormat) -> None:
    """Save the tokenizer at `path` into `directory`, with our special tokens. A saved HF
    tokenizer that has them all (e.g. another arm's) is copied byte for byte."""
    src = Path(path)
    files = [src / "tokenizer.json", src / "tokenizer_config.json"]
    if all(f.is_file() for f in files):
        from tokenizers import Tokenizer

        vocab = Tokenizer.from_file(str(files[0])).get_vocab(with_added_tokens=True)
        if all(t in vocab for t in special_tokens(fmt)):
            directory.mkdir(parents=True, exist_ok=True)
            for f in [*files, src / "special_tokens_map.json"]:
                if f.is_file():
                    shutil.copyfile(f, directory / f.name)
            return
    save_tokenizer(load_tokenizer(path, fmt), directory, fmt)


def load_tokenizer(path: str, fmt: ReflectionFormat):
    """The backend tokenizer of an existing HF tokenizer, with our special tokens added."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    from safereflect.hub import pretrained_args

    try:
        name, kwargs = pretrained_args(path, weights=False)
        hf = AutoTokenizer.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot load tokenizer {path!r}: {str(err).splitlines()[0]}") from None
    tok = getattr(hf, "backend_tokenizer", None)
    if tok is None:
        raise UserError(f"tokenizer {path!r} has no fast (Rust) backend; use a tokenizer.json-based tokenizer")
    vocab = tok.get_vocab(with_added_tokens=True)
    missing = [t for t in special_tokens(fmt) if t not in vocab]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in missing])
    return tok


def hf_tokenizer(tok: Any, fmt: ReflectionFormat):
    """A `tokenizers` tokenizer as a transformers one, with our EOS, PAD and special tokens."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=special_tokens(fmt)[2:],
    )


def save_tokenizer(tok: Any, directory: Path, fmt: ReflectionFormat) -> None:
    hf_tokenizer(tok, fmt).save_pretrained(str(directory))


def tokenizer_facts(tok: Any, fmt: ReflectionFormat) -> dict[str, Any]:
    """What meta.json records about the tokenizer."""
    specials = {t: tok.token_to_id(t) for t in special_tokens(fmt)}
    vocab = tok.get_vocab_size(with_added_tokens=True)
    return {
        "vocab_size": vocab,
        "token_size": 4 if vocab > 65536 else 2,
        "eos_token_id": specials[EOS_TOKEN],
        "pad_token_id": specials[PAD_TOKEN],
        "special_tokens": specials,
    }
