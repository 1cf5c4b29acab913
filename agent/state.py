"""The graph's state: what one extraction turn reads and writes (see ``graph.py`` for the flow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

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
    """The answer to one ``locate_entity`` call. ``box`` is in original-image pixels as the grounding tool gave it
    (some tools clip to the image, some do not); ``assemble`` clips every box to the image or drops it."""

    call_id: str
    visible: bool
    visibility: float | None = None
    box: Box | None = None
    box_score: float | None = None
    mask: Mask | None = None


def merge_locations(current: dict[str, Location], update: dict[str, Location]) -> dict[str, Location]:
    """Reducer: branches write their own call ids; a later write for the same id replaces the earlier one.
    ``plan`` starts a new set with LangGraph's ``Overwrite`` (a new entity list has new calls)."""
    return {**current, **update}


def add_warnings(current: list[str], update: list[str]) -> list[str]:
    """Reducer: warnings add up within a turn; ``begin_turn`` clears them with ``Overwrite([])``."""
    return [*current, *update]


TurnKind = Literal["first", "follow_up"]
"""``first``: a post to extract (a new thread, or a new post / image / types on a thread: its conversation starts
afresh); ``follow_up``: a user message about the thread's current result (``agent.followups``)."""


@dataclass
class TurnInput:
    """What a caller gives the graph for one turn (the graph's input schema).

    ``turn`` is the one place that says what kind of turn this is; ``followup_text`` is the user's message of a
    follow-up turn (read by ``interpret``). A first turn on an existing thread sends
    ``messages=[RemoveMessage(REMOVE_ALL_MESSAGES)]`` to start the conversation afresh.
    """

    post: Post
    types: TypeSchema
    options: ExtractionOptions = field(default_factory=ExtractionOptions)
    turn: TurnKind = "first"
    followup_text: str | None = None
    messages: Annotated[list[AnyMessage], add_messages] = field(default_factory=list)


@dataclass
class ExtractionState(TurnInput):
    """The graph's full state: the turn's input, plus what the nodes write. ``messages`` is the planner
    conversation (the thread, in chat use); ``candidates`` the validated entities of the current plan;
    ``locations`` their locate results by call id; ``warnings`` this turn's plain-language problems."""

    candidates: tuple[Candidate, ...] = ()
    locations: Annotated[dict[str, Location], merge_locations] = field(default_factory=dict)
    warnings: Annotated[list[str], add_warnings] = field(default_factory=list)
    result: Prediction | None = None

    @property
    def is_follow_up(self) -> bool:
        return self.turn == "follow_up"
