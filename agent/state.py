"""The graph's state: what one extraction turn reads and writes (see ``graph.py`` for the flow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from groundex.agent.schema import Box, Entity, Mask, Post, Prediction, TypeSchema


@dataclass(frozen=True)
class ExtractionOptions:
    """What the caller asks for: ``boxes`` runs the locate tools (False: text-only, MNER); ``masks`` adds SAM."""

    boxes: bool = True
    masks: bool = False


@dataclass(frozen=True)
class Candidate:
    """A planner entity that passed validation: a real span of the post, a type of the schema.

    ``call_id`` is its ``locate_entity`` tool call, ``None`` when the planner judged it not visible.
    """

    entity: Entity
    call_id: str | None = None


@dataclass(frozen=True)
class LocateTask:
    """One branch of the fan-out: locate ``entity`` in the image at ``image_path``.

    ``visible`` and ``visibility`` are filled by the entailment step before the task goes on to grounding.
    """

    call_id: str
    entity: Entity
    image_path: Path
    visible: bool | None = None
    visibility: float | None = None


@dataclass(frozen=True)
class Location:
    """The answer to one ``locate_entity`` call. Boxes in original pixels, unclipped until ``assemble``."""

    call_id: str
    visible: bool
    visibility: float | None = None
    box: Box | None = None
    box_score: float | None = None
    mask: Mask | None = None


NEW_TURN = "\x00new-turn"
"""Marks an update that starts a turn: ``{NEW_TURN: None, ...}`` for ``locations``, ``[NEW_TURN, ...]`` for
``warnings``. A chat thread's state lives across turns, so the first node of a turn resets what is per turn."""


def merge_locations(current: dict[str, Location], update: dict[str, Location | None]) -> dict[str, Location]:
    """Reducer: branches write their own call ids; a later write for the same id replaces the earlier one."""
    if NEW_TURN in update:
        return {k: v for k, v in update.items() if k != NEW_TURN and v is not None}
    return {**current, **{k: v for k, v in update.items() if v is not None}}


def turn_warnings(current: list[str], update: list[str]) -> list[str]:
    """Reducer: warnings add up within a turn and start again with the next one."""
    if update and update[0] == NEW_TURN:
        return list(update[1:])
    return [*current, *update]


@dataclass
class ExtractionState:
    """The graph state. ``messages`` is the planner conversation (the thread, in chat use).

    ``followup_text`` is the user's message on a follow-up turn of a thread (``None`` on a first turn): the
    ``interpret`` node reads it (``agent.followups``).
    """

    post: Post
    types: TypeSchema
    options: ExtractionOptions = field(default_factory=ExtractionOptions)
    messages: Annotated[list[AnyMessage], add_messages] = field(default_factory=list)
    candidates: tuple[Candidate, ...] = ()
    locations: Annotated[dict[str, Location], merge_locations] = field(default_factory=dict)
    warnings: Annotated[list[str], turn_warnings] = field(default_factory=list)
    result: Prediction | None = None
    followup_text: str | None = None
