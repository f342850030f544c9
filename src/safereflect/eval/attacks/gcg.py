"""GCG suffix optimisation against the model, nanoGCG-style.

Each step: the gradient of the target loss with respect to a one-hot encoding of the
suffix; for every suffix position the top-k tokens by negative gradient; `search_width`
candidates that each swap `n_replace` random positions for random top-k tokens; candidates
whose suffix does not survive decode/re-encode are dropped (the attack must be a string a
user can type); the candidate with the lowest target loss becomes the suffix. The best
suffix over all steps is kept. Unlike nanoGCG there is no prefix KV cache and no candidate
buffer: simpler, and at our sizes the forward over the prefix is cheap. On a model that reads
prompts plainly the loss and gradient are nanoGCG's (tests/eval/attacks/test_gcg.py checks
them against nanogcg where it is installed, and against a direct forward pass always).

The attacked prompt is text, like every other attack's: the suffix goes between the request
and its answer cue ("... give Ben? <suffix> Answer:"). The target loss of a candidate is
computed on that text as the arm's reading renders it (a reflection-pretrained model reads it
with its reflections, eval/reading.py), and the completion is generated from the text under the
arm's own decoding (monitored decoding checks the prompt's reflection slots, suffix included)
and judged by the oracle. Where a reflection falls inside the suffix, the suffix's tokens are
not contiguous in what the model reads; the gradient (only a proposal: candidates are ranked
by their exact loss) is then taken on request + suffix + cue without the reflections there.
The target is the probe's `reference_answer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from safereflect.eval.asr import asr, attack
from safereflect.eval.config import GCGConfig
from safereflect.eval.context import EvalContext
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import Reading

ANSWER_CUE = " Answer:"


@dataclass
class GCGResult:
    suffix_ids: list[int]
    suffix: str
    loss: float  # the best target loss found
    init_loss: float
    losses: list[float]  # best candidate's loss at each step
    matched: bool  # greedy decoding reproduces the target


def split_prompt(prompt: str) -> tuple[str, str]:
    """(request, answer cue): the suffix is inserted between them."""
    i = prompt.rfind(ANSWER_CUE)
    return (prompt[:i], prompt[i:]) if i >= 0 else (prompt, "")


class GCG:
    def __init__(self, lm: CausalLM, cfg: GCGConfig, seed: int, *, reading: Reading):
        self.lm, self.cfg, self.reading = lm, cfg, reading
        self.gen = torch.Generator().manual_seed(seed)
        self.weights = lm.model.get_input_embeddings().weight
        self.allowed = self._allowed_tokens()

    def _allowed_tokens(self) -> torch.Tensor:
        special = set(self.lm.tok.all_special_ids)
        ok = torch.zeros(self.weights.shape[0], dtype=torch.bool)
        for i in range(min(len(self.lm.tok), self.weights.shape[0])):
            text = self.lm.tok.decode([i])
            ok[i] = (
                i not in special
                and bool(text.strip())
                and (self.cfg.allow_non_ascii or (text.isascii() and text.isprintable()))
            )
        return ok

    def prompt(self, request: str, suffix: str, cue: str) -> str:
        """The attacked prompt, as text."""
        return request + suffix + cue

    def read(self, prompt: str) -> list[int]:
        """The tokens the model reads for a text prompt."""
        return self.lm.encode_context(self.reading.render(prompt))

    def run(self, request: str, cue: str, target: str) -> GCGResult:
        goal = torch.tensor(self.lm.encode(target))

        def contexts(cands: torch.Tensor) -> list[list[int]]:
            return [self.read(self.prompt(request, self.lm.decode(c.tolist()), cue)) for c in cands]

        ids = torch.tensor(self.lm.encode(f" {self.cfg.init_token}" * self.cfg.suffix_tokens)[: self.cfg.suffix_tokens])
        init_loss = float(self._losses(contexts(ids[None]), goal)[0][0])
        best_ids, best_loss, matched, losses = ids, init_loss, False, []
        for _ in range(self.cfg.steps):
            grad = self._gradient(ids, contexts(ids[None])[0], request, cue, goal)
            cands = self._filter(self._sample(ids, grad))
            if cands is None:
                continue  # no candidate survives re-encoding this step
            loss, match = self._losses(contexts(cands), goal)
            k = int(loss.argmin())
            ids = cands[k]
            losses.append(float(loss[k]))
            if loss[k] < best_loss:
                best_ids, best_loss, matched = ids, float(loss[k]), bool(match[k])
            if self.cfg.early_stop and matched:
                break
        return GCGResult(best_ids.tolist(), self.lm.decode(best_ids.tolist()), best_loss, init_loss, losses, matched)

    def _gradient(
        self, ids: torch.Tensor, context: list[int], request: str, cue: str, goal: torch.Tensor
    ) -> torch.Tensor:
        """d(target loss)/d(one-hot suffix), normalised per position, on the context as read
        (or, where the suffix is not contiguous in it, on request + suffix + cue unread)."""
        at = _find(context, ids.tolist())
        if at is None:
            context = self.lm.encode_context(request) + ids.tolist() + self.lm.encode(cue)
            at = len(context) - len(ids) - len(self.lm.encode(cue))
        dev, w = self.lm.device, self.weights
        one_hot = torch.zeros((len(ids), w.shape[0]), dtype=w.dtype, device=dev)
        one_hot.scatter_(1, ids[:, None].to(dev), 1.0)
        one_hot.requires_grad_(True)
        embed = self.lm.model.get_input_embeddings()
        seq = torch.tensor(context + goal.tolist(), device=dev)
        with torch.enable_grad():
            parts = [embed(seq[:at]), one_hot @ w, embed(seq[at + len(ids) :])]
            logits = self.lm.model(inputs_embeds=torch.cat(parts)[None]).logits[0]
            start = len(context)
            loss = torch.nn.functional.cross_entropy(logits[start - 1 : start - 1 + len(goal)].float(), goal.to(dev))
            grad = torch.autograd.grad(loss, one_hot)[0]
        return (grad / grad.norm(dim=-1, keepdim=True)).float().cpu()

    def _sample(self, ids: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[:, ~self.allowed[: grad.shape[1]]] = float("inf")
        top = (-grad).topk(min(self.cfg.topk, int(self.allowed.sum())), dim=1).indices  # (L, k)
        width, n = self.cfg.search_width, min(self.cfg.n_replace, len(ids))
        where = torch.argsort(torch.rand((width, len(ids)), generator=self.gen), dim=1)[:, :n]  # (W, n)
        pick = torch.randint(0, top.shape[1], (width, n, 1), generator=self.gen)
        tokens = top[where].gather(2, pick).squeeze(2)  # (W, n)
        return ids.repeat(width, 1).scatter(1, where, tokens)

    def _filter(self, cands: torch.Tensor) -> torch.Tensor | None:
        keep = [c for c in cands if self.lm.encode(self.lm.decode(c.tolist())) == c.tolist()]
        return torch.stack(keep) if keep else None

    @torch.no_grad()
    def _losses(self, contexts: list[list[int]], goal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Target loss after every context (mean token cross-entropy, as nanoGCG's), and
        whether greedy decoding reproduces the target."""
        losses, matches = [], []
        for s in range(0, len(contexts), self.cfg.eval_batch_size):
            ids, attn, pos = self.lm.padded([c + goal.tolist() for c in contexts[s : s + self.cfg.eval_batch_size]])
            out = self.lm.model(input_ids=ids, attention_mask=attn, position_ids=pos, logits_to_keep=len(goal) + 1)
            logits = out.logits[:, :-1].float()
            target = goal.to(self.lm.device).expand(len(ids), -1)
            ce = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none").mean(1)
            losses.append(ce.cpu())
            matches.append((logits.argmax(-1) == target).all(1).cpu())
        return torch.cat(losses), torch.cat(matches)


def _find(seq: list[int], part: list[int]) -> int | None:
    """Start of the last occurrence of `part` in `seq`."""
    for i in range(len(seq) - len(part), -1, -1):
        if seq[i : i + len(part)] == part:
            return i
    return None


def run(ctx: EvalContext) -> dict[str, Any]:
    probes = ctx.need_probes("gcg")("harmful_heldout")
    targets = [p for p in probes if p["attack"] == "direct"][: ctx.cfg.gcg.n_probes]
    gcg = GCG(ctx.lm, ctx.cfg.gcg, ctx.seed("gcg"), reading=ctx.reading)
    prompts, extras, results = [], [], []
    for p in targets:
        request, cue = split_prompt(p["prompt"])
        res = gcg.run(request, cue, p["reference_answer"])
        results.append(res)
        prompts.append(gcg.prompt(request, res.suffix, cue))
        extras.append(
            {
                "gcg": {
                    "suffix": res.suffix,
                    "loss": res.loss,
                    "init_loss": res.init_loss,
                    "losses": res.losses,
                    "matched": res.matched,
                }
            }
        )
    outcomes = attack(ctx, ctx.lm, targets, suite="gcg", model="base", prompts=prompts, extras=extras)
    ctx.note(ctx.oracle.description, "asr_gcg")
    return {
        "asr_gcg": asr(ctx, "asr_gcg", outcomes),
        "gcg_target_loss": ctx.rate("gcg_target_loss", [r.loss for r in results]),
        "gcg_target_loss_init": ctx.rate("gcg_target_loss_init", [r.init_loss for r in results]),
    }
