"""Finetuning examples: JSONL records tokenized the way pretraining documents are.

A `{"prompt", "response"}` record becomes the text `prompt + response` (concatenated as is:
put any separator in the data) followed by EOS, with the loss on the response tokens and
the EOS only. A `{"text"}` record is `text` + EOS with the loss on every token. A
`{"parts": [{"text", "loss"}, ...]}` record is its parts' texts concatenated + EOS, with the
loss on the parts whose `loss` is true (and the EOS): a text trained in several places, such
as a request whose reflections are trained and whose words are not. A token that straddles a
boundary is trained when any character it spells is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from safereflect.errors import UserError
from safereflect.jsonl import iter_jsonl
from safereflect.train.data import IGNORE_INDEX


@dataclass(frozen=True)
class Example:
    ids: list[int]
    trained: list[bool]  # per token: is it a loss target (when predicted from what precedes it)


def encode_example(tokenizer, *, prompt: str, response: str | None) -> Example:
    """Token ids and loss mask for `prompt + response` (or plain text when `response` is None)."""
    if response is None:
        return encode_parts(tokenizer, [(prompt, True)])
    return encode_parts(tokenizer, [(prompt, False), (response, True)])


def encode_parts(tokenizer, parts: list[tuple[str, bool]]) -> Example:
    """Token ids and loss mask for the concatenated texts of `parts` ((text, trained) pairs)."""
    text = "".join(t for t, _ in parts)
    # verbose=False: a too-long example is fitted afterwards (`fit`), not an indexing error
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    chars = np.zeros(len(text) + 1, dtype=np.int64)  # prefix sums of trained characters
    np.cumsum([flag for t, flag in parts for _ in t], out=chars[1:])
    # a token that spells no character (a zero-width offset) goes with the character it stands at
    n = len(text)
    trained = [bool(chars[min(max(e, s + 1), n)] > chars[min(s, n - 1)]) for s, e in enc["offset_mapping"]]
    return Example(list(enc["input_ids"]) + [tokenizer.eos_token_id], trained + [True])


def fit(ex: Example, max_seq_len: int) -> Example:
    """`ex` in at most `max_seq_len` tokens. An example that is too long loses the untrained
    tokens before its first trained one (a prompt's start), so its whole response is trained on
    what the model would read (generation keeps a long prompt's end, eval/generate.py); text,
    and a response that does not fit even after one prompt token, are cut on the right."""
    extra = len(ex.ids) - max_seq_len
    if extra <= 0:
        return ex
    prompt = ex.trained.index(True)  # tokens before the first trained one (0 for text; EOS is trained)
    if extra < prompt:
        return Example(ex.ids[extra:], ex.trained[extra:])
    return Example(ex.ids[:max_seq_len], ex.trained[:max_seq_len])


def load_examples(path: Path, tokenizer, *, max_seq_len: int, max_examples: int | None = None) -> list[Example]:
    """Read and tokenize `path`; fit each example into `max_seq_len` tokens (`fit`)."""
    if tokenizer.eos_token_id is None:
        raise UserError("the model's tokenizer has no EOS token; finetuning appends one after each example")
    examples: list[Example] = []
    for n, record in enumerate(iter_jsonl(path), start=1):
        if max_examples is not None and len(examples) == max_examples:
            break
        if isinstance(record.get("prompt"), str) and isinstance(record.get("response"), str):
            ex = encode_example(tokenizer, prompt=record["prompt"], response=record["response"])
        elif isinstance(record.get("text"), str):
            ex = encode_example(tokenizer, prompt=record["text"], response=None)
        elif (parts := _parts(record.get("parts"))) is not None:
            ex = encode_parts(tokenizer, parts)
        else:
            raise UserError(
                f'{path}: record {n} needs string fields "prompt" and "response", or "text", '
                'or "parts" (a list of {"text": string, "loss": bool})'
            )
        ex = fit(ex, max_seq_len)
        if not any(ex.trained[1:]):
            raise UserError(
                f"{path}: record {n} has no response tokens within max_seq_len {max_seq_len}",
                hint="raise max_seq_len or shorten the prompt",
            )
        examples.append(ex)
    if not examples:
        raise UserError(f"{path}: no records")
    if max_examples is not None and len(examples) < max_examples:
        raise UserError(f"{path}: {len(examples)} records, but this preset uses {max_examples}")
    return examples


def _parts(value) -> list[tuple[str, bool]] | None:
    """The (text, trained) pairs of a "parts" field, or None when it is not one."""
    if not isinstance(value, list) or not value:
        return None
    ok = all(isinstance(p, dict) and isinstance(p.get("text"), str) and isinstance(p.get("loss"), bool) for p in value)
    return [(p["text"], p["loss"]) for p in value] if ok else None


def collate(examples: list[Example], pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, targets, attention_mask), right-padded; targets are IGNORE_INDEX off the response."""
    width = max(len(ex.ids) for ex in examples) - 1
    inputs = np.full((len(examples), width), pad_id, dtype=np.int64)
    targets = np.full((len(examples), width), IGNORE_INDEX, dtype=np.int64)
    attention = np.zeros((len(examples), width), dtype=np.int64)
    for row, ex in enumerate(examples):
        n = len(ex.ids) - 1
        ids = np.asarray(ex.ids)
        inputs[row, :n] = ids[:-1]
        targets[row, :n] = np.where(ex.trained[1:], ids[1:], IGNORE_INDEX)
        attention[row, :n] = 1
    return inputs, targets, attention
