"""Every prompt groundex renders, in one place: the planner's system and user turns (which inference and
fine-tuning must produce identically) and the questions the MLLM tools ask about the image."""

from __future__ import annotations

from groundex.agent.contract import AnswerStyle
from groundex.agent.schema import Entity, Post, TypeSchema
from groundex.prompts import render_prompt


def system_text(types: TypeSchema, multimodal: bool, style: AnswerStyle = "full") -> str:
    """The system prompt: the instructions, the type schema and the output contract in ``style``
    (``lean`` is written for text-only planners; a planner that sees the image always gets ``full``)."""
    return render_prompt("system", types=list(types), multimodal=multimodal, style=style)


def user_text(post: Post) -> str:
    """The text part of the user turn (the image, if any, is a separate content part before it)."""
    return render_prompt("user", text=post.text)


def entailment_question(entity: Entity) -> str:
    """The yes/no question the ``mllm`` entailment tool asks: is the entity (its description) in the image?"""
    return render_prompt("entailment", description=entity.description or entity.text)


def grounding_question(entity: Entity) -> str:
    """The box question the ``mllm`` grounding tool asks about the entity (its description)."""
    return render_prompt("grounding", description=entity.description or entity.text)
