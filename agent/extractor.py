"""The public entry point: extract grounded entities from a post with a profile's planner and tools."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from groundex.agent.config import Settings
from groundex.agent.errors import GroundexError
from groundex.agent.graph import compile_graph
from groundex.agent.schema import Post, Prediction, TypeSchema
from groundex.agent.state import ExtractionOptions, ExtractionState, TurnInput
from groundex.agent.toolbox import Toolbox, build_toolbox


@dataclass(frozen=True)
class ExtractionResult:
    """The post's triples and what had to be dropped or repaired on the way (plain-language warnings)."""

    prediction: Prediction
    warnings: tuple[str, ...] = ()


class Extractor:
    """Runs the graph. Without a checkpointer each call is independent; with one, ``thread_id`` keeps history."""

    def __init__(self, toolbox: Toolbox, checkpointer: Any = None):
        self.toolbox = toolbox
        self.graph = compile_graph(checkpointer)

    @classmethod
    def from_settings(cls, settings: Settings, checkpointer: Any = None) -> "Extractor":
        return cls(build_toolbox(settings), checkpointer)

    def _config(self, thread_id: str | None) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread_id or uuid.uuid4().hex}}

    @staticmethod
    def _first_turn(post: Post, types: TypeSchema, options: ExtractionOptions) -> TurnInput:
        # a first turn on an existing thread (a new image or post in a chat) starts its conversation afresh
        return TurnInput(post=post, types=types, options=options, turn="first",
                         messages=[RemoveMessage(id=REMOVE_ALL_MESSAGES)])

    def extract(self, post: Post, types: TypeSchema, options: ExtractionOptions = ExtractionOptions(),
                thread_id: str | None = None) -> ExtractionResult:
        state = self.graph.invoke(self._first_turn(post, types, options), self._config(thread_id), context=self.toolbox)
        return ExtractionResult(state["result"], tuple(state["warnings"]))

    async def aextract(self, post: Post, types: TypeSchema, options: ExtractionOptions = ExtractionOptions(),
                       thread_id: str | None = None) -> ExtractionResult:
        state = await self.graph.ainvoke(self._first_turn(post, types, options), self._config(thread_id),
                                         context=self.toolbox)
        return ExtractionResult(state["result"], tuple(state["warnings"]))

    def thread_state(self, thread_id: str) -> ExtractionState | None:
        """The thread's latest state (needs a checkpointer); ``None`` for a thread that has no turn yet."""
        if self.graph.checkpointer is None:
            raise GroundexError("threads need a checkpointer: build the Extractor with one (agent.checkpoints)")
        values = self.graph.get_state(self._config(thread_id)).values
        return ExtractionState(**values) if values and values.get("post") is not None else None

    def follow_up(self, thread_id: str, message: str,
                  options: ExtractionOptions | None = None) -> ExtractionResult:
        """One more turn of a thread: a correction, new types or a question for the planner (``agent.followups``).
        ``options`` (boxes, masks) replace the thread's when given."""
        if not message.strip():
            raise GroundexError("the follow-up message is empty")
        if self.thread_state(thread_id) is None:
            raise GroundexError(f"thread {thread_id!r} has no extraction yet: start it with a post (and image)")
        update: dict[str, Any] = {"turn": "follow_up", "followup_text": message.strip()}
        if options is not None:
            update["options"] = options
        state = self.graph.invoke(update, self._config(thread_id), context=self.toolbox)
        return ExtractionResult(state["result"], tuple(state["warnings"]))
