"""The planner's output contract, in one place: the tool it may call and how its answer is read.

The planner answers with
1. a JSON object ``{"entities": [{"text", "start"?, "type", "description"?}]}`` in text order (``start`` is a
   character offset into the post text; when it is missing or wrong, the surface string and the text order
   locate the entity), and
2. one ``locate_entity`` tool call per entity it believes visible, in the Hermes format that Qwen models and
   vLLM's ``hermes`` tool parser use: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

Two renderings of that one contract (``AnswerStyle``), read by the same reader:
- ``full``: every entity with its offset and a referring description, and the call repeats text, type and
  description (what a planner that sees the image writes: the description is what grounding looks for);
- ``lean``: ``{"text", "type"}`` per entity and calls with the text only (text-only planners: an offset is
  something a small model has to count, and a description it cannot see adds nothing but tokens; about half
  the answer tokens of ``full``).

The planner is answered with one ``ToolMessage`` per ``locate_entity`` call (``locate_result_text``), the same at
inference (``nodes.assemble``) and in fine-tuning data (``finetune.data``).

Backends that get tool calls already parsed (an OpenAI-compatible server) pass them as ``ToolCall`` objects;
backends that get raw text use ``split_tool_calls``. Either way ``read_planner_answer`` turns the answer into
``PlannedEntity`` objects and never raises on model output: what it cannot read becomes a ``problems`` entry.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from langchain_core.messages import ToolCall

from groundex.agent.schema import Box

LOCATE_TOOL = "locate_entity"
UNREADABLE_ANSWER = "the planner's answer could not be read"  # begins the warning of a post planned with no result

AnswerStyle = Literal["full", "lean"]
ANSWER_STYLES: tuple[AnswerStyle, ...] = ("full", "lean")

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

LEAN_LOCATE_TOOL_SCHEMA: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": LOCATE_TOOL,
        "description": LOCATE_TOOL_SCHEMA["function"]["description"],
        "parameters": {
            "type": "object",
            "properties": {"text": LOCATE_TOOL_SCHEMA["function"]["parameters"]["properties"]["text"]},
            "required": ["text"],
        },
    },
}

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def planner_tools(style: AnswerStyle = "full") -> list[dict[str, Any]]:
    """The tool definitions given to the planner (OpenAI function format, as chat templates take them)."""
    return [LEAN_LOCATE_TOOL_SCHEMA if style == "lean" else LOCATE_TOOL_SCHEMA]


def resolve_answer_style(setting: str, multimodal: bool) -> AnswerStyle:
    """``auto`` -> ``full`` for planners that see the image, ``lean`` for text-only ones."""
    if setting == "auto":
        return "full" if multimodal else "lean"
    if setting not in ANSWER_STYLES:
        raise ValueError(f"unknown answer style {setting!r}; styles: auto, {', '.join(ANSWER_STYLES)}")
    return setting  # type: ignore[return-value]


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
    """What could be read from one planner answer: the entities (each linked to its locate call, if any)."""

    entities: tuple[PlannedEntity, ...]
    problems: tuple[str, ...] = field(default_factory=tuple)


def locate_result_text(visible: bool, visibility: float | None, box: Box | None) -> str:
    """The ToolMessage content answering one locate_entity call: JSON ``{"visible", "visibility", "box"}``, the box
    as ``[x1, y1, x2, y2]`` in original-image pixels (or null)."""
    return json.dumps({"visible": visible, "visibility": visibility, "box": box.as_list() if box else None},
                      ensure_ascii=False)


LOCATE_SKIPPED_TEXT = json.dumps({"skipped": "not located (invalid entity or no image)"})
"""The ToolMessage content for a locate_entity call that was not run (its entity was invalid, or no image)."""


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


def _salvage_entities(content: str) -> list[dict]:
    """The complete entity objects of an entity list that does not parse as a whole (cut off at the token
    limit, or broken after some entities): each ``{...}`` after ``"entities"`` that decodes on its own."""
    start = content.find('"entities"')
    if start < 0:
        return []
    decoder, found, position = json.JSONDecoder(), [], start
    while (position := content.find("{", position + 1)) >= 0:
        try:
            value, end = decoder.raw_decode(content, position)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "text" in value:
            found.append(value)
            position = end - 1
    return found


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
            if isinstance(document, dict) and "entities" not in document and '"entities"' in content:
                raise ValueError("the object holding \"entities\" is not complete JSON")
            raw_entities = document.get("entities", []) if isinstance(document, dict) else document
            if not isinstance(raw_entities, list):
                raise TypeError("'entities' must be a list")
            listed = raw_entities
        except (ValueError, TypeError, AttributeError) as error:
            listed = _salvage_entities(content)
            problems.append(f"unreadable entity list: {error}" if not listed else
                            f"the entity list does not parse ({error}): kept its {len(listed)} complete entities")

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
    return PlannerAnswer(tuple(entities), tuple(problems))


_DECISION_POINTS = re.compile(
    r'"entities":\s*\[\s*(?=.)'          # any entity at all: '{' or ']'
    r'|\}\s*(?=[,\]])'                    # after an entity: go on (',') or close the list (']')
    r'|"(?:text|type|start)":\s*"?'         # which span starts here, which type, which offset
    r'|</tool_call>'                        # after a call: another one, or the end of the turn
    , re.DOTALL)


def decision_offsets(answer: str) -> list[int]:
    """Character offsets in a rendered assistant turn (content + tool calls, as the chat template writes them)
    where the planner decides rather than copies format: whether the list has an entity, continue or close
    after each entity, the first character of each span, type and offset, whether a tool call follows the
    entity list, and another call or the end after each call. Fine-tuning logs (and may weight) the loss on
    the tokens holding these characters."""
    offsets = [match.end() for match in _DECISION_POINTS.finditer(answer)]
    try:  # the end of the entity list: a tool call follows, or the turn ends
        _, end = json.JSONDecoder().raw_decode(answer, answer.index("{"))
        offsets.append(end)
    except (ValueError, json.JSONDecodeError):
        pass
    return sorted(o for o in set(offsets) if o < len(answer))


def render_planner_answer(entities: Sequence[PlannedEntity], style: AnswerStyle = "full") -> tuple[str, list[ToolCall]]:
    """The inverse of ``read_planner_answer``: the content and tool calls a perfect planner would write.

    Used to build fine-tuning targets and scripted planners, so that both speak exactly this contract. ``lean``
    leaves out what the reader can do without (offsets, descriptions); ``entities`` must be in text order then.
    """
    if style == "lean":
        listed = [{"text": e.text, "type": e.type} for e in entities]
    else:
        listed = [{"text": e.text, "start": e.start, "type": e.type, "description": e.description} for e in entities]
    content = json.dumps({"entities": listed}, ensure_ascii=False)
    calls = [
        ToolCall(name=LOCATE_TOOL,
                 args={"text": e.text} if style == "lean" else {"text": e.text, "type": e.type, "description": e.description},
                 id=e.locate_call_id or f"call_{index}", type="tool_call")
        for index, e in enumerate(entities) if e.locate_call_id is not None
    ]
    return content, calls
