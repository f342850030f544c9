"""The lm-evaluation-harness model `safereflect`: lm-eval tasks through our own `CausalLM`.

`lm_eval --model hf` reads an export as plain text. A reflection-pretrained model is meant to
be read in its training format (a reflection after every segment, eval/reading.py) and can
decode with its own safety checks (monitored decoding, SafeBeam); this model gives lm-eval
tasks both, with exactly the scoring and decoding code of `safereflect eval`.

lm-eval (0.4.x) finds models only in its own registry; it has no entry-point or plugin
discovery. Importing this module registers `safereflect` there, so from Python:

    import safereflect.eval.harness  # registers the model
    lm_eval.simple_evaluate(model="safereflect", model_args="pretrained=runs/srp,read_segment_words=8", ...)

and on the command line `python -m safereflect.eval.lm_eval_cli` is lm-eval's own CLI with the
model registered (every `lm_eval` option works):

    python -m safereflect.eval.lm_eval_cli run --model safereflect \\
        --model_args pretrained=runs/srp,read_segment_words=8,decoding=monitored --tasks ...

model_args: `pretrained` (export, run dir or hub id), `revision`, `dtype`, `add_bos`,
`read_segment_words` (the reflected reading; default: plain text), `read_prompt_end` (with it,
for `reflect_prompt` models: a reflection closes each prompt), `decoding` (plain,
monitored, safebeam) and the other `DecodingConfig` fields (`check_every`, `flag_threshold`,
`reflection_max_tokens`, `beam_width`, `stop_on_tag`), `keep_reflections` (default false:
reflections are removed from generated text, as `ReflectionFormat.strip` does, so a task's
answer checks see the answer).

What lm-eval gets back: `loglikelihood` is `CausalLM.loglikelihood` (the context in the
reading format); `loglikelihood_rolling` is the summed log-probability of the text as written,
read in disjoint windows after the `<|endoftext|>` prefix (as the bpb suite reads documents);
`generate_until` is `safereflect.eval.generate.generate` (under the same reading) with the
request's `until` as stop strings and `max_gen_toks` as the budget. A prompt halted by monitored decoding's prompt check
generates "", a halt during decoding returns the text before it: the model's refusal is no text.
"""

from __future__ import annotations

import json
from typing import Any

import lm_eval.models  # noqa: F401  (see below)
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from safereflect.config import validate
from safereflect.eval.config import DecodingConfig
from safereflect.eval.generate import generate
from safereflect.eval.lm import CausalLM
from safereflect.eval.reading import build_reading

# lm-eval fills its registry with its own models (hf, vllm, ...) only while the registry is
# empty: registering ours first would hide them. Importing lm_eval.models registers them first.

_DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's HF model uses the same default


@register_model("safereflect")
class SafeReflectLM(LM):
    def __init__(
        self,
        pretrained: str,
        *,
        revision: str | None = None,
        device: str | None = None,
        dtype: str = "float32",
        batch_size: int | str | None = 16,
        max_batch_size: int | None = None,
        add_bos: bool = False,
        keep_reflections: bool = False,
        **decoding: Any,
    ):
        super().__init__()
        # lm-eval passes batch_size "auto" / "auto:N" for its own batch-size search; ours is fixed
        size = int(batch_size) if str(batch_size).isdigit() else (max_batch_size or 16)
        self.decoding = validate(DecodingConfig, {"mode": decoding.pop("decoding", "plain"), **decoding}, "model_args")
        self.lm = CausalLM.load(
            str(pretrained),
            device=device or "auto",
            dtype=dtype,
            batch_size=size,
            add_bos=add_bos,
            revision=None if revision is None else str(revision),  # lm-eval turns an all-digit hash into an int
        )
        self.reading = build_reading(self.decoding)  # how every context is put before the model
        self.keep_reflections = keep_reflections

    @property
    def device(self):
        return self.lm.device

    @property
    def tokenizer_name(self) -> str:
        return str(getattr(self.lm.tok, "name_or_path", "safereflect")).replace("/", "__")

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        results = self.lm.loglikelihood([(self.reading.render(c), x) for c, x in (req.args for req in requests)])
        for req, res in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood", req.args, res)
        return results

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        texts = [req.args[0] for req in requests]
        results = [-nll for nll in self.lm.token_nll(self.lm.encode_many(texts))]
        for req, res in zip(requests, results):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, res)
        return results

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out: list[str] = [""] * len(requests)
        groups: dict[str, list[int]] = {}  # requests with the same gen_kwargs decode together
        for i, req in enumerate(requests):
            groups.setdefault(json.dumps(req.args[1], sort_keys=True, default=str), []).append(i)
        for key, idx in groups.items():
            kwargs = json.loads(key)
            until = kwargs.get("until") or []
            dec = self._decoding_for(kwargs)
            gens = generate(
                self.lm,
                [requests[i].args[0] for i in idx],
                dec,
                reading=self.reading,
                max_new_tokens=int(kwargs.get("max_gen_toks") or _DEFAULT_MAX_GEN_TOKS),
                stop=[until] if isinstance(until, str) else list(until),
            )
            for i, g in zip(idx, gens):
                text = g.text if self.keep_reflections else self._without_reflections(g.text)
                out[i] = text
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
        return out

    def _decoding_for(self, kwargs: dict[str, Any]) -> DecodingConfig:
        sample = kwargs.get("do_sample") or float(kwargs.get("temperature") or 0) > 0
        if not sample:
            return self.decoding
        update = {"temperature": float(kwargs.get("temperature") or 1.0), "top_p": float(kwargs.get("top_p") or 1.0)}
        return self.decoding.model_copy(update=update)

    def _without_reflections(self, text: str) -> str:
        fmt = self.decoding.reflection
        if fmt.opener not in text:
            return text
        kept = fmt.strip(text)  # also drops a reflection left open at the budget's end
        # the leading space belongs to the answer (it continues the prompt); strip() took it
        return text[: len(text) - len(text.lstrip())] + kept if kept else ""
