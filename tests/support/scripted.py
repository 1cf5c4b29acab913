"""Scripted stand-ins for graph-routing tests only: a planner that replays fixed answers, and tools that
answer from a table. They exercise the wiring; real models are tested elsewhere."""

from __future__ import annotations

import threading
from typing import Any, Iterable, Sequence

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from PIL import Image

from groundex.agent.contract import PlannedEntity, render_planner_answer
from groundex.agent.schema import Box, Entity
from groundex.tools.base import Grounding, Visibility


class ScriptedPlanner(GenericFakeChatModel):
    """Replays ``messages`` one per call; ``bind_tools`` is accepted and ignored."""

    multimodal: bool = True
    calls: int = 0

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> "ScriptedPlanner":
        return self

    def _generate(self, *args: Any, **kwargs: Any):
        self.calls += 1
        return super()._generate(*args, **kwargs)


def planner_reply(entities: Iterable[PlannedEntity]) -> AIMessage:
    """The AIMessage a perfect planner would send for these entities (same contract as fine-tuning targets)."""
    content, calls = render_planner_answer(list(entities))
    return AIMessage(content=content, tool_calls=calls)


def scripted_planner(*replies: AIMessage | str, multimodal: bool = True) -> ScriptedPlanner:
    return ScriptedPlanner(messages=iter([r if isinstance(r, AIMessage) else AIMessage(content=r) for r in replies]),
                           multimodal=multimodal)


class TableEntailment:
    """Visible iff the entity text is in ``visible``; optionally waits on a barrier to prove concurrency."""

    def __init__(self, visible: set[str], barrier: threading.Barrier | None = None):
        self.visible, self.barrier, self.seen_threads = visible, barrier, set()

    def visibility(self, image: Image.Image, entity: Entity) -> Visibility:
        self.seen_threads.add(threading.get_ident())
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        seen = entity.text in self.visible
        return Visibility(seen, 0.9 if seen else 0.1)


class TableGrounding:
    def __init__(self, boxes: dict[str, Box]):
        self.boxes, self.calls = boxes, []

    def locate(self, image: Image.Image, entity: Entity) -> Grounding | None:
        self.calls.append(entity.text)
        box = self.boxes.get(entity.text)
        return Grounding(box, 0.8) if box else None
