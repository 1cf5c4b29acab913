"""``plan``: ask the planner for the entities and its locate_entity calls; validate them against the post."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Overwrite

from groundex.agent.backends.messages import image_block
from groundex.agent.contract import UNREADABLE_ANSWER, AnswerStyle, planner_tools, read_planner_answer
from groundex.agent.prompting import system_text, user_text
from groundex.agent.state import ExtractionState
from groundex.agent.toolbox import Toolbox
from groundex.agent.validation import validate_entities



def opening_messages(state: ExtractionState, multimodal: bool, style: AnswerStyle = "full") -> list[BaseMessage]:
    """The system prompt (types + contract in ``style``) and the post as the first user turn."""
    system = system_text(state.types, multimodal, style)
    text = {"type": "text", "text": user_text(state.post)}
    blocks = [image_block(state.post.image_path), text] if multimodal and state.post.image_path else [text]
    return [SystemMessage(system), HumanMessage(content=blocks)]


def plan(state: ExtractionState, runtime: Runtime[Toolbox]) -> dict[str, Any]:
    planner, style = runtime.context.planner, runtime.context.answer_style
    # a conversation is opened once: on a first turn, and on a follow-up that changed the types (interpret cleared it)
    new_messages = [] if state.messages else opening_messages(state, planner.multimodal, style)
    reply = planner.bind_tools(planner_tools(style)).invoke([*state.messages, *new_messages])
    answer = read_planner_answer(str(reply.content), reply.tool_calls)
    candidates, rejected = validate_entities(answer.entities, state.post, state.types)
    problems = [*reply.response_metadata.get("problems", []), *answer.problems, *rejected]
    unreadable = not answer.entities and bool(answer.problems or reply.response_metadata.get("problems"))
    if unreadable and state.is_follow_up and not new_messages and state.result is not None:
        # a question in a chat thread that the planner could not answer must not wipe the thread's result (a
        # follow-up that changed the types opened a new conversation: its old result is not for these types)
        return {"messages": [reply],
                "warnings": [*problems, "the planner's answer to the follow-up could not be read: the result is unchanged"]}
    if unreadable:
        problems.append(f"{UNREADABLE_ANSWER}: no entities extracted")
    return {"messages": [*new_messages, reply], "candidates": tuple(candidates), "locations": Overwrite({}),
            "warnings": problems, "result": None}
