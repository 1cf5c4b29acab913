"""The public entry point: extract grounded entities from a post with a profile's planner and tools."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from groundex.agent.config import Settings
from groundex.agent.graph import compile_graph
from groundex.agent.schema import Post, Prediction, TypeSchema
from groundex.agent.state import ExtractionOptions, ExtractionState
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

    def extract(self, post: Post, types: TypeSchema, options: ExtractionOptions = ExtractionOptions(),
                thread_id: str | None = None) -> ExtractionResult:
        state = self.graph.invoke(ExtractionState(post=post, types=types, options=options),
                                  self._config(thread_id), context=self.toolbox)
        return ExtractionResult(state["result"], tuple(state["warnings"]))

    async def aextract(self, post: Post, types: TypeSchema, options: ExtractionOptions = ExtractionOptions(),
                       thread_id: str | None = None) -> ExtractionResult:
        state = await self.graph.ainvoke(ExtractionState(post=post, types=types, options=options),
                                         self._config(thread_id), context=self.toolbox)
        return ExtractionResult(state["result"], tuple(state["warnings"]))
