"""The per-entity branch of the fan-out: ``entail`` (is it visible?) then ``ground`` (where?).

Both steps run once per ``locate_entity`` call, concurrently across entities (LangGraph ``Send``). Every
branch has the same two steps, so the join after them (``segment``) runs once, after all branches.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from groundex.agent.state import LocateTask, Location
from groundex.agent.toolbox import Toolbox


def entail(task: LocateTask, runtime: Runtime[Toolbox]) -> Command:
    image = runtime.context.load_image(task.image_path)
    verdict = runtime.context.entailment.visibility(image, task.entity)
    return Command(goto=Send("ground", replace(task, visible=verdict.visible, visibility=verdict.probability)))


def ground(task: LocateTask, runtime: Runtime[Toolbox]) -> dict[str, Any]:
    location = Location(task.call_id, bool(task.visible), task.visibility)
    if task.visible:
        found = runtime.context.grounding.locate(runtime.context.load_image(task.image_path), task.entity)
        if found is not None:
            location = replace(location, box=found.box, box_score=found.score)
    return {"locations": {task.call_id: location}}
