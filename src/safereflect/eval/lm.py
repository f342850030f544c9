"""`CausalLM`: any HF causal LM behind the few calls the evaluation makes.

Scoring follows lm-evaluation-harness: contexts are encoded without special tokens (unless
`add_bos`), an empty context is replaced by the BOS (else EOS) token, and a continuation's
tokens are those of `encode(context + continuation)` past `encode(context)`, with the
context's trailing spaces moved onto the continuation. Text is read exactly as given: how a
prompt is put before the model (the reflected reading of eval/reading.py) is the caller's,
passed to decoding and scoring explicitly. Models load with safetensors only and never with
remote code.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from safereflect.console import console
from safereflect.device import resolve_device
from safereflect.errors import UserError
from safereflect.eval.model_path import resolve_model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_NO_READING = (
    "CausalLM reads text as given and holds no reading: pass `reading=` (eval/reading.py) to generate and to "
    "the scoring functions"
)


class CausalLM:
    """A causal LM and its tokenizer; batched scoring, hidden states and the decode step."""

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 16, add_bos: bool = False):
        self.model = model.eval()
        self.tok = tokenizer
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        self.eos_id: int | None = tokenizer.eos_token_id
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (self.eos_id or 0)
        self.bos_id: int | None = tokenizer.bos_token_id if add_bos else None
        self.prefix_id: int = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else self.eos_id  # type: ignore[assignment]
        self.max_length: int = int(getattr(model.config, "max_position_embeddings", None) or 2048)

    @property
    def reading(self) -> None:
        raise AttributeError(_NO_READING)

    @reading.setter
    def reading(self, _value: object) -> None:
        # an old script's `lm.reading = ...` would otherwise be silently ignored
        raise AttributeError(_NO_READING)

    @classmethod
    def load(
        cls,
        spec: str | Path,
        *,
        device: str = "auto",
        dtype: str = "float32",
        batch_size: int = 16,
        add_bos: bool = False,
        tokenizer_from: str | Path | None = None,
        revision: str | None = None,
    ) -> CausalLM:
        """Load an export (or hub model, pinned by `revision` or `org/name@revision`).
        `tokenizer_from` serves exports saved without a tokenizer."""
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from safereflect.hub import pretrained_args
        from safereflect.train.export import align_token_ids

        hf_logging.disable_progress_bar()  # per-tensor loading bars would drown the evaluation's own output
        path = resolve_model(spec)
        tok_path, tok_revision = path, revision
        if (
            tokenizer_from is not None
            and Path(path).is_dir()
            and not any((Path(path) / f).is_file() for f in _TOKENIZER_FILES)
        ):
            tok_path, tok_revision = resolve_model(tokenizer_from), None
        try:
            name, kwargs = pretrained_args(tok_path, tok_revision, weights=False)
            tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
            name, kwargs = pretrained_args(path, revision)
            model = AutoModelForCausalLM.from_pretrained(name, dtype=DTYPES[dtype], **kwargs)
        except (OSError, ValueError) as err:
            raise UserError(f"could not load model {spec}: {str(err).splitlines()[0]}") from None
        fixed = align_token_ids(model, tokenizer)
        if fixed:
            # exports written before the ids came from the tokenizer stopped `generate` at <think>
            console.print(
                f"[yellow]warning:[/] {path}: config corrected for this run to match the tokenizer "
                f"({', '.join(fixed)}); exports written by this version need no correction",
                soft_wrap=True,  # one line, however narrow the terminal
            )
        model.to(torch.device(resolve_device(device)))
        model.requires_grad_(False)
        return cls(model, tokenizer, batch_size=batch_size, add_bos=add_bos)

    # --- text <-> tokens -------------------------------------------------------------
    # verbose=False: a text longer than the context is expected here (many-shot prompts); every
    # caller keeps its end, so the tokenizer's "will result in indexing errors" would mislead
    def encode(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False, verbose=False)["input_ids"]

    def encode_many(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tok(list(texts), add_special_tokens=False, verbose=False)["input_ids"] if texts else []

    def encode_context(self, text: str) -> list[int]:
        """A context's tokens: optional BOS, and never empty."""
        ids = ([self.bos_id] if self.bos_id is not None else []) + self.encode(text)
        return ids or [self.prefix_id]

    def decode(self, ids: Sequence[int]) -> str:
        # Special tokens stay visible: reflections and tags are part of what is judged.
        return self.tok.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    # --- forward passes --------------------------------------------------------------
    @torch.no_grad()
    def step(
        self, ids: torch.Tensor, attn: torch.Tensor, pos: torch.Tensor, cache: Any, *, last: int | None = None
    ) -> torch.Tensor:
        """One incremental forward over `ids` given `cache`; float32 logits (B, T, V), or only
        those of the `last` positions (B, last, V)."""
        out = self.model(
            input_ids=ids,
            attention_mask=attn,
            position_ids=pos,
            use_cache=True,
            logits_to_keep=last or 0,  # transformers' 0 means every position
            **{self._cache_kwarg: cache},
        )
        return out.logits.float()

    @cached_property
    def _cache_kwarg(self) -> str:
        # recent transformers 5 releases call it `cache` and deprecate `past_key_values` (gone in 5.40)
        params = inspect.signature(self.model.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    def padded(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Left-padded ids, attention mask and position ids (positions count real tokens only).

        Left padding puts every sequence's last token in the last column, so scoring can ask
        the model for the logits of the last few positions only."""
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        attn = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            if s:
                ids[i, width - len(s) :] = torch.tensor(list(s), dtype=torch.long)
                attn[i, width - len(s) :] = 1
        pos = (attn.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), attn.to(self.device), pos.to(self.device)

    def batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices grouped longest first, so each batch pads little."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    # --- scoring -----------------------------------------------------------------------
    def split_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        spaces = len(context) - len(context.rstrip(" "))
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        ctx = self.encode(context)
        whole = self.encode(context + continuation)
        bos = [self.bos_id] if self.bos_id is not None else []
        return (bos + ctx) or [self.prefix_id], whole[len(ctx) :]

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[tuple[float, bool]]:
        """(log P(continuation | context), whether greedy decoding would produce it) per request."""
        return self.loglikelihood_tokens([self.split_pair(c, x) for c, x in requests])

    @torch.no_grad()
    def loglikelihood_tokens(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[tuple[float, bool]]:
        results: list[tuple[float, bool]] = [(0.0, True)] * len(pairs)
        inputs, spans = [], []
        for context, cont in pairs:
            if not cont:
                raise ValueError("empty continuation")
            whole = (list(context) + list(cont))[-(self.max_length + 1) :]
            inputs.append(whole[:-1])
            spans.append(len(cont))
        for batch in self.batches([len(s) for s in inputs]):
            ids, attn, pos = self.padded([inputs[i] for i in batch])
            keep = max(spans[i] for i in batch)
            logits = self.model(input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=keep).logits
            for row, i in enumerate(batch):
                logp = torch.log_softmax(logits[row, keep - spans[i] :].float(), dim=-1)
                target = torch.tensor(pairs[i][1], device=logp.device)
                results[i] = (float(logp.gather(1, target[:, None]).sum()), bool((logp.argmax(-1) == target).all()))
        return results

    @torch.no_grad()
    def token_nll(self, docs: Sequence[Sequence[int]]) -> list[float]:
        """Total negative log-likelihood (nats) of each document's tokens, read after the
        prefix token in disjoint windows of the model's context length."""
        pieces: list[tuple[int, list[int]]] = []
        for d, doc in enumerate(docs):
            seq = [self.prefix_id, *doc]
            for s in range(0, len(doc), self.max_length):
                pieces.append((d, seq[s : s + self.max_length + 1]))
        totals = [0.0] * len(docs)
        for batch in self.batches([len(p) for _, p in pieces]):
            ids, attn, pos = self.padded([pieces[i][1][:-1] for i in batch])
            logits = self.model(input_ids=ids, attention_mask=attn, position_ids=pos).logits
            for row, i in enumerate(batch):  # one row at a time: a float32 copy of all logits can be GBs
                d, piece = pieces[i]
                target = torch.tensor(piece[1:], device=logits.device)
                row_logits = logits[row, logits.shape[1] - len(target) :].float()
                totals[d] += float(torch.nn.functional.cross_entropy(row_logits, target, reduction="sum"))
        return totals

    @torch.no_grad()
    def last_hidden(self, texts: Sequence[str], layer: int | None = None) -> np.ndarray:
        """Hidden state of each text's last token at `layer` (None: the middle layer)."""
        seqs = [self.encode_context(t)[-self.max_length :] for t in texts]
        out: list[np.ndarray] = [np.empty(0)] * len(seqs)
        for batch in self.batches([len(s) for s in seqs]):
            ids, attn, pos = self.padded([seqs[i] for i in batch])
            hidden = self.model(
                input_ids=ids, attention_mask=attn, position_ids=pos, output_hidden_states=True
            ).hidden_states
            h = hidden[len(hidden) // 2 if layer is None else layer][:, -1]
            for row, i in enumerate(batch):
                out[i] = h[row].float().cpu().numpy()
        return np.stack(out)
