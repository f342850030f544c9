"""Neutralising a generation before it is pasted into a judge prompt.

A generation can try to steer its judge: close the instruction block (`[/INST]`), open a
system or role section, or repeat the prompt's own section headers ("---", "Rules:",
"Answer: yes"). Before a generation goes into a judge prompt, chat and role markers and the
judge tokenizer's special tokens are deleted (repeatedly, so that deleting one cannot join
the pieces of another), the template's section headers are defused ("Answer: yes" becomes
"Answer - yes") and horizontal rules are dropped. The template's structure then appears
exactly once, where the template puts it; the words stay for the judge to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MARKERS = re.compile(
    r"\[\s*/?\s*INST\s*\]"  # Llama-2 instruction block
    r"|<<\s*/?\s*SYS\s*>>"  # Llama-2 system block
    r"|<\|[^|<>\n]{1,40}\|>"  # ChatML / Llama-3 style: <|im_start|>, <|eot_id|>, <|endoftext|>
    r"|</?s>"  # sentencepiece BOS / EOS
    r"|\[\s*/?\s*(?:CONTEXT|BEHAVIOR|GENERATION|QUERY)\s*\]",  # HarmBench contextual sections
    re.IGNORECASE,
)
# the judge templates' own headers, anywhere; role labels only where they start a line
_HEADER = re.compile(r"\b(behaviou?r|generation|rules|answer)(\s*):", re.IGNORECASE)
_ROLE = re.compile(
    r"^(\s*(?:#+\s*)?)(system|user|assistant|human|ai|instruction|response)(\s*):", re.IGNORECASE | re.MULTILINE
)
_RULE = re.compile(r"^[ \t]*(?:-{3,}|={3,}|\*{3,}|_{3,})[ \t]*$", re.MULTILINE)


def sanitize(text: str, special_tokens: Iterable[str] = ()) -> str:
    tokens = sorted({t for t in special_tokens if t}, key=len, reverse=True)
    while True:
        before = text
        for t in tokens:
            text = text.replace(t, "")
        text = _MARKERS.sub("", text)
        if text == before:
            break
    text = _HEADER.sub(lambda m: f"{m.group(1)} -", text)
    text = _ROLE.sub(lambda m: f"{m.group(1)}{m.group(2)} -", text)
    return _RULE.sub("", text)
