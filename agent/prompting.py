"""The texts of a planner conversation that inference and fine-tuning must produce identically."""

from __future__ import annotations

from typing import Any

from groundex.agent.contract import AnswerStyle
from groundex.agent.schema import Box, Post, TypeSchema
from groundex.prompts import render_prompt


def system_text(types: TypeSchema, multimodal: bool, style: AnswerStyle = "full") -> str:
    """The system prompt: the instructions, the type schema and the output contract in ``style``
    (``lean`` is written for text-only planners; a planner that sees the image always gets ``full``)."""
    return render_prompt("system", types=list(types), multimodal=multimodal, style=style)


def user_text(post: Post) -> str:
    """The text part of the user turn (the image, if any, is a separate content part before it)."""
    return render_prompt("user", text=post.text)


def locate_result(visible: bool, visibility: float | None, box: Box | None) -> dict[str, Any]:
    """The answer to one locate_entity call, as the ToolMessage carries it (box in original pixels)."""
    return {"visible": visible, "visibility": visibility, "box": box.as_list() if box else None}
