"""Tiny corpora, a byte-level BPE tokenizer and datatrove shards laid out as docs/formats.md says.

Everything is seeded; session-scoped fixtures are built once and must be treated as read-only.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from safereflect.data.tokenizer import special_tokens
from safereflect.reflection import DEFAULT_FORMAT, EOS_TOKEN, PAD_TOKEN

SPECIAL_TOKENS = special_tokens(DEFAULT_FORMAT)

torch.set_num_threads(1)  # two cores shared with other test runs; also makes CPU runs bitwise stable

DRUGS = [
    "warfarin",
    "ibuprofen",
    "metformin",
    "lisinopril",
    "digoxin",
    "insulin",
    "aspirin",
    "codeine",
]
CONDITIONS = [
    "kidney disease",
    "asthma",
    "heart failure",
    "diabetes",
    "a stomach ulcer",
    "liver damage",
]
TEMPLATES = [
    "{d} is used for {c}. Ask a pharmacist before taking it with {e}.",
    "Patients with {c} should not take {d} without advice.",
    "The usual dose of {d} depends on age and {c}.",
    "Taking {d} together with {e} can raise the risk of bleeding.",
    "A nurse checked the {d} label twice <think> Safe </think> before giving it.",
]


def make_documents(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        sentences = [
            rng.choice(TEMPLATES).format(d=rng.choice(DRUGS), e=rng.choice(DRUGS), c=rng.choice(CONDITIONS))
            for _ in range(rng.randint(1, 3))
        ]
        docs.append(" ".join(sentences))
    return docs


def train_tokenizer(out: Path, texts: list[str], vocab_size: int = 400):
    """The project's byte-level BPE with its special tokens, saved as an HF tokenizer."""
    from safereflect.data import tokenizer as project

    fast = project.hf_tokenizer(
        project.train_tokenizer(texts, project.TokenizerConfig(vocab_size=vocab_size), DEFAULT_FORMAT), DEFAULT_FORMAT
    )
    fast.save_pretrained(out)
    return fast


def write_tokens_dir(
    out: Path,
    tokenizer,
    train_docs: list[str],
    val_docs: list[str],
    *,
    loss_mask: bool = False,
    train_files: int = 2,
) -> Path:
    """Shards per docs/formats.md, written with datatrove's own TokenizedFile.

    With `loss_mask`, the first half of each document's tokens is masked out (0) and the rest,
    EOS included, is trained on (1).
    """
    from datatrove.pipeline.tokens.tokenizer import TokenizedFile

    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out / "tokenizer")
    eos = tokenizer.convert_tokens_to_ids(EOS_TOKEN)
    splits = {}
    for split, docs, n_files in (("train", train_docs, train_files), ("val", val_docs, 1)):
        files, n_tokens = [], 0
        for f in range(n_files):
            name = f"{f:05d}.ds"
            writer = TokenizedFile(str(out / split), name, save_index=True, save_loss_metadata=loss_mask)
            for text in docs[f::n_files]:
                ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [eos]
                mask = np.arange(len(ids)) >= len(ids) // 2 if loss_mask else None
                writer.write(ids, mask)
                n_tokens += len(ids)
            writer.close()
            files.append(f"{split}/{name}")  # relative to the tokens dir, like the prepare stage
        splits[split] = {"files": files, "tokens": n_tokens, "documents": len(docs)}
    meta = {
        "format": "datatrove",
        "token_size": 2,
        "vocab_size": len(tokenizer),
        "eos_token_id": eos,
        "pad_token_id": tokenizer.convert_tokens_to_ids(PAD_TOKEN),
        "special_tokens": {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS},
        "loss_mask": loss_mask,
        "seed": 0,
        "splits": splits,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
    return out


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory):
    return train_tokenizer(tmp_path_factory.mktemp("tokenizer"), make_documents(300, seed=1))


@pytest.fixture(scope="session")
def tokens_dir(tmp_path_factory, tokenizer) -> Path:
    """About 10k training tokens in two files, no loss mask."""
    docs = make_documents(400, seed=2)
    return write_tokens_dir(tmp_path_factory.mktemp("arm") / "tokens", tokenizer, docs[:360], docs[360:])


@pytest.fixture(scope="session")
def masked_tokens_dir(tmp_path_factory, tokenizer) -> Path:
    docs = make_documents(120, seed=3)
    return write_tokens_dir(
        tmp_path_factory.mktemp("masked") / "tokens",
        tokenizer,
        docs[:100],
        docs[100:],
        loss_mask=True,
    )


@pytest.fixture(scope="session")
def small_tokens_dir(tmp_path_factory, tokenizer) -> Path:
    """A corpus of a few hundred tokens: small enough for the tiny model to memorise."""
    docs = make_documents(24, seed=4)
    return write_tokens_dir(tmp_path_factory.mktemp("small") / "tokens", tokenizer, docs[:16], docs[16:], train_files=1)


OVERFIT_STEPS = 80


def overfit_config(small_tokens_dir: Path, out: Path, **overrides):
    from safereflect.train import resolve_train_config

    values = {
        "data": str(small_tokens_dir.parent),
        "out": str(out),
        "seq_len": 32,
        "max_steps": OVERFIT_STEPS,
        "lr": 1e-2,
        "val_tokens": 512,
        "model.max_position_embeddings": 128,  # room for finetuning prompts
        **overrides,
    }
    return resolve_train_config("tiny", None, values)


@pytest.fixture(scope="session")
def overfit_run(small_tokens_dir, tmp_path_factory) -> Path:
    """The tiny model trained 80 steps on the small corpus: tests check it, export and finetune it."""
    from safereflect.train import run_training

    out = tmp_path_factory.mktemp("overfit")
    assert run_training(overfit_config(small_tokens_dir, out)) == out / "final"
    return out
