"""``interpret``: the first node of a follow-up turn in a chat thread (``agent.followups`` reads the message).

- corrections (not visible, remove, retype) edit the thread's candidates and locations and go to ``assemble``;
- ``reground`` sends that one entity, with the user's description, to ``ground``;
- a new or extended type schema restarts the conversation with it and goes to ``plan``;
- anything else joins the conversation as a user message and goes to ``plan`` (the planner answers with the
  full, updated entity list).
Every correction is answered with a short assistant message, so the thread reads as a conversation.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from groundex.agent.followups import EDIT_KINDS, SCHEMA_KINDS, FollowUp, match_entity, parse_followup
from groundex.agent.schema import TypeSchema
from groundex.agent.state import Candidate, ExtractionState, LocateTask, Location
from groundex.agent.toolbox import Toolbox
from groundex.agent.type_presets import types_from_names


def _extended_schema(current: TypeSchema, followup: FollowUp) -> TypeSchema:
    known = {t.name: t for t in current}
    chosen = [known.get(t.name) or t for t in types_from_names(followup.type_names)]
    if followup.kind == "add_types":
        chosen = [*current, *(t for t in chosen if t.name not in known)]
    return TypeSchema(f"{current.name}+chat" if followup.kind == "add_types" else "chat", tuple(chosen))


def _edit(state: ExtractionState, followup: FollowUp) -> tuple[dict[str, Any], str, LocateTask | None]:
    """The state update, the assistant's answer and, for ``reground``, the grounding task."""
    entities = [c.entity for c in state.candidates]
    entity = match_entity(followup.target or "", entities)
    if entity is None:
        listing = ", ".join(f"'{e.text}'" for e in entities) or "none yet"
        return {}, f"I found no entity matching '{followup.target}' (entities: {listing}); nothing changed.", None
    index = entities.index(entity)
    candidate = state.candidates[index]
    candidates = list(state.candidates)
    if followup.kind == "remove":
        del candidates[index]
        return {"candidates": tuple(candidates)}, f"Removed '{entity.text}'.", None
    if followup.kind == "retype":
        candidates[index] = replace(candidate, entity=replace(entity, type=followup.new_type))
        return {"candidates": tuple(candidates)}, f"'{entity.text}' is now {followup.new_type}.", None
    if followup.kind == "not_visible":
        update: dict[str, Any] = {}
        if candidate.call_id is not None:
            update["locations"] = {candidate.call_id: Location(candidate.call_id, False, 0.0)}
        return update, f"'{entity.text}' is marked as not in the picture (no box).", None
    # reground: the same entity, grounded again with the user's words
    if state.post.image_path is None:
        return {}, f"This post has no image, so '{entity.text}' cannot be boxed.", None
    described = replace(entity, description=followup.description or entity.description)
    call_id = candidate.call_id or f"user_{uuid.uuid4().hex[:8]}"
    candidates[index] = Candidate(described, call_id)
    task = LocateTask(call_id, described, state.post.image_path, visible=True, visibility=1.0)
    return {"candidates": tuple(candidates)}, f"Looking for '{entity.text}' as {followup.description}.", task


def interpret(state: ExtractionState, runtime: Runtime[Toolbox]) -> Command:
    followup = parse_followup(state.followup_text or "", state.types.names)
    asked = HumanMessage(followup.text)
    if followup.kind in SCHEMA_KINDS:
        if not followup.type_names:
            return Command(goto="assemble",
                           update={"messages": [asked, AIMessage("Which types? e.g. 'use types: athlete, team'.")]})
        schema = _extended_schema(state.types, followup)
        return Command(goto="plan", update={"types": schema, "messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES)]})
    if followup.kind not in EDIT_KINDS:
        return Command(goto="plan", update={"messages": [asked]})
    update, answer, task = _edit(state, followup)
    update = {**update, "messages": [asked, AIMessage(answer)]}
    if task is None:
        return Command(goto="assemble", update=update)
    return Command(goto=Send("ground", task), update=update)
