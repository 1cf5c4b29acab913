"""The planner's output contract, in one place: the tool it may call and how its answer is read.

The planner answers with
1. a JSON object ``{"entities": [{"text", "start"?, "type", "description"}]}`` (``start`` is a character
   offset into the post text; when it is missing or wrong, the exact surface string locates the entity), and
2. one ``locate_entity`` tool call per entity it believes visible, in the Hermes format that Qwen models and
   vLLM's ``hermes`` tool parser use: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

Backends that get tool calls already parsed (an OpenAI-compatible server) pass them as ``ToolCall`` objects;
backends that get raw text use ``split_tool_calls``. Either way ``read_planner_answer`` turns the answer into
``PlannedEntity`` objects and never raises on model output: what it cannot read becomes a ``problems`` entry.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

from langchain_core.messages import ToolCall

LOCATE_TOOL = "locate_entity"

LOCATE_TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": LOCATE_TOOL,
        "description": "Find a named entity of the post in the image: decide whether it is visible, then box it.",
        "parameters": {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "the entity exactly as written in the post"},
                "type": {"type": "string", "description": "its entity type, one of the given type names"},
                "description": {
                    "type": "string",
                    "description": "a short referring expression for finding it in the image",
                },
            },
            "required": ["text", "type", "description"],
        },
    },
}

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def planner_tools() -> list[dict[str, Any]]:
    """The tool definitions given to the planner (OpenAI function format, as chat templates take them)."""
    return [LOCATE_TOOL_SCHEMA]


@dataclass(frozen=True)
class PlannedEntity:
    """An entity as the planner stated it, before validation against the post.

    ``start`` is the character offset the planner gave, if any; ``locate_call_id`` is the id of its
    ``locate_entity`` tool call, ``None`` when the planner judged it not visible.
    """

    text: str
    type: str
    description: str
    start: int | None = None
    locate_call_id: str | None = None


@dataclass(frozen=True)
class PlannerAnswer:
    """What could be read from one planner answer."""

    entities: tuple[PlannedEntity, ...]
    tool_calls: tuple[ToolCall, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)


def split_tool_calls(raw: str) -> tuple[str, list[ToolCall], list[str]]:
    """Split raw model text into (content without tool calls, parsed tool calls, problems)."""
    calls: list[ToolCall] = []
    problems: list[str] = []
    for match in _TOOL_CALL.finditer(raw):
        try:
            payload = json.loads(match.group(1))
            name, arguments = payload["name"], payload.get("arguments", {})
            if isinstance(arguments, str):
                arguments = json.loads(arguments)
            if not isinstance(name, str) or not isinstance(arguments, dict):
                raise TypeError("name must be a string and arguments an object")
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            problems.append(f"unreadable tool call {match.group(1)[:80]!r}: {error}")
            continue
        calls.append(ToolCall(name=name, args=arguments, id=f"call_{uuid.uuid4().hex[:12]}", type="tool_call"))
    content = _TOOL_CALL.sub("", raw).strip()
    return content, calls, problems


def _first_json_object(content: str) -> Any:
    """The first JSON value that starts at a '{' in ``content`` (models wrap JSON in prose or code fences)."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", content):
        try:
            value, _ = decoder.raw_decode(content, match.start())
            return value
        except json.JSONDecodeError:
            continue
    raise ValueError("no JSON object found")


def _entity_from(item: Any, locate_call_id: str | None) -> PlannedEntity:
    if not isinstance(item, dict):
        raise TypeError(f"an entity must be an object, got {type(item).__name__}")
    text, type_name = item.get("text"), item.get("type")
    if not isinstance(text, str) or not text.strip() or not isinstance(type_name, str):
        raise TypeError("an entity needs string 'text' and 'type'")
    start = item.get("start")
    description = item.get("description")
    return PlannedEntity(
        text=text,
        type=type_name,
        description=description if isinstance(description, str) and description.strip() else text,
        start=start if isinstance(start, int) and not isinstance(start, bool) else None,
        locate_call_id=locate_call_id,
    )


def read_planner_answer(content: str, tool_calls: Sequence[ToolCall]) -> PlannerAnswer:
    """Read the entity list from ``content`` and link each ``locate_entity`` call to its entity.

    A locate call for an entity missing from the list adds that entity (the call says everything needed).
    """
    problems: list[str] = []
    listed: list[dict] = []
    if content.strip():
        try:
            document = _first_json_object(content)
            raw_entities = document.get("entities", []) if isinstance(document, dict) else document
            if not isinstance(raw_entities, list):
                raise TypeError("'entities' must be a list")
            listed = raw_entities
        except (ValueError, TypeError, AttributeError) as error:
            problems.append(f"unreadable entity list: {error}")

    locate_calls = [call for call in tool_calls if call["name"] == LOCATE_TOOL]
    problems += [f"unknown tool {call['name']!r} ignored" for call in tool_calls if call["name"] != LOCATE_TOOL]
    unclaimed = list(locate_calls)

    entities: list[PlannedEntity] = []
    for item in listed:
        try:
            planned = _entity_from(item, None)
        except TypeError as error:
            problems.append(f"entity {str(item)[:60]!r} skipped: {error}")
            continue
        call = next((c for c in unclaimed if c["args"].get("text") == planned.text), None)
        if call is not None:
            unclaimed.remove(call)
            planned = _entity_from({**item, "description": call["args"].get("description") or planned.description},
                                   call["id"])
        entities.append(planned)
    for call in unclaimed:
        try:
            entities.append(_entity_from(call["args"], call["id"]))
        except TypeError as error:
            problems.append(f"tool call {call['args']!r} skipped: {error}")
    return PlannerAnswer(tuple(entities), tuple(locate_calls), tuple(problems))


def render_planner_answer(entities: Sequence[PlannedEntity]) -> tuple[str, list[ToolCall]]:
    """The inverse of ``read_planner_answer``: the content and tool calls a perfect planner would write.

    Used to build fine-tuning targets and scripted planners, so that both speak exactly this contract.
    """
    content = json.dumps(
        {"entities": [{"text": e.text, "start": e.start, "type": e.type, "description": e.description}
                      for e in entities]},
        ensure_ascii=False,
    )
    calls = [
        ToolCall(name=LOCATE_TOOL, args={"text": e.text, "type": e.type, "description": e.description},
                 id=e.locate_call_id or f"call_{index}", type="tool_call")
        for index, e in enumerate(entities) if e.locate_call_id is not None
    ]
    return content, calls
