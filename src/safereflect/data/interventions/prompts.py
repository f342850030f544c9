"""Prompts of the LLM-based interventions for real text (SafeLM's SafeWeb, RefuseWeb and
Moral Education, in our own words). `{text}` is replaced by the document."""

from __future__ import annotations

_SAFE_EVERY_SENTENCE = (
    "Every sentence must be safe on its own: keep the educational value, but leave out any "
    "instruction, quantity or detail that would help someone cause harm. Answer with the new "
    "text only."
)

STYLES: dict[str, str] = {
    "textbook": "Rewrite the following text as a section of a school textbook that explains the topic "
    "responsibly, including why the harmful parts are dangerous.",
    "podcast": "Rewrite the following text as the transcript of an educational podcast in which two hosts "
    "discuss the topic and its risks responsibly.",
    "teacher_script": "Rewrite the following text as a script a teacher reads to a class, explaining the "
    "topic, its dangers and how people stay safe.",
    "parent_child": "Rewrite the following text as a conversation in which a parent explains the topic to "
    "their child, honestly and safely.",
    "encyclopedia": "Rewrite the following text as a neutral encyclopedia article about the topic that "
    "focuses on history, context, risks and prevention.",
}

REFUSAL = (
    "The following text contains a harmful request or harmful content. Write a dialogue in which a user "
    "asks for what the text provides and an AI assistant refuses: it acknowledges the request, declines, "
    "explains why the request is harmful, and offers a safe alternative. Do not repeat any harmful detail. "
    "Answer with the dialogue only.\n\nText:\n{text}"
)

MORAL = (
    "The following text contains harmful content. Write a short third-person educational article, in the "
    "style of a web page, about why acting on this kind of content is harmful and wrong, who it hurts, and "
    "what responsible people do instead. Do not repeat any harmful detail. Answer with the article only."
    "\n\nText:\n{text}"
)


def rewrite_prompt(style: str, text: str) -> str:
    return f"{STYLES[style]} {_SAFE_EVERY_SENTENCE}\n\nText:\n{text}"
