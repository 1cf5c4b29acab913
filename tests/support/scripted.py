"""Scripted stand-ins for graph-routing tests only: a planner that replays fixed answers, and tools that
answer from a table. They exercise the wiring; real models are tested elsewhere."""

from __future__ import annotations

import threading
from typing import Any, Iterable, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from PIL import Image

from groundex.agent.contract import PlannedEntity, render_planner_answer
from groundex.agent.schema import Box, Entity
from groundex.agent.toolbox import Toolbox
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

    def __init__(self, visible: set[str], barrier: threading.Barrier | None = None, everything: bool = False):
        self.visible, self.barrier, self.seen_threads, self.everything = visible, barrier, set(), everything

    def visibility(self, image: Image.Image, entity: Entity) -> Visibility:
        self.seen_threads.add(threading.get_ident())
        if self.barrier is not None:
            self.barrier.wait(timeout=10)
        seen = self.everything or entity.text in self.visible
        return Visibility(seen, 0.9 if seen else 0.1)


class TableGrounding:
    def __init__(self, boxes: dict[str, Box]):
        self.boxes, self.calls = boxes, []

    def locate(self, image: Image.Image, entity: Entity) -> Grounding | None:
        self.calls.append(entity.text)
        box = self.boxes.get(entity.text)
        return Grounding(box, 0.8) if box else None


class OraclePlanner(BaseChatModel):
    """Answers each post with ``answers[post text]`` (for benchmark-runner tests), optionally slowly."""

    answers: dict
    delay_s: float = 0.0
    multimodal: bool = True

    @property
    def _llm_type(self) -> str:
        return "oracle"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> "OraclePlanner":
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        import time

        from langchain_core.outputs import ChatGeneration, ChatResult

        time.sleep(self.delay_s)
        human = [m for m in messages if m.type == "human"][-1]
        text = next(b["text"] for b in human.content if isinstance(b, dict) and b.get("type") == "text")
        return ChatResult(generations=[ChatGeneration(message=self.answers[text.removeprefix("Post: ")])])


def synthetic_oracle(posts, delay_s: float = 0.0) -> "OraclePlanner":
    """Gold entities for every post, locate calls for the visible ones, and a spurious "met" on even posts."""
    answers = {}
    for index, annotated in enumerate(posts):
        planned = [PlannedEntity(g.entity.text, g.entity.type, g.entity.text, g.entity.start,
                                 f"c{n}" if g.groundable else None) for n, g in enumerate(annotated.gold)]
        if index % 2 == 0:
            planned.append(PlannedEntity("met", "OTHER", "met", annotated.post.text.index("met")))
        answers[annotated.post.text] = planner_reply(planned)
    return OraclePlanner(answers=answers, delay_s=delay_s)


def synthetic_tools(planner) -> Toolbox:
    """Everything visible; Alice's box is right, Bob's is far off."""
    class ShapeGrounding:
        def locate(self, image, entity):
            if entity.text.startswith("Alice"):
                return Grounding(Box(20, 30, 140, 220), 0.9)
            return Grounding(Box(0, 0, 10, 10), 0.2)

    return Toolbox(planner=planner, entailment=TableEntailment(set(), None, everything=True),
                   grounding=ShapeGrounding(), segmentation_factory=lambda: None)
