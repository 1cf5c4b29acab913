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


def tool_failure(step: str, entity_text: str | None, error: Exception) -> str:
    """The warning a failed tool call becomes (the tool error policy, as LangGraph's ToolNode
    ``handle_tool_errors``): the post goes on, the entity keeps its span and type, it just gets no region."""
    what = f" for {entity_text!r}" if entity_text else ""
    return f"{step} failed{what} ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); not located"


def entail(task: LocateTask, runtime: Runtime[Toolbox]) -> Command:
    image = runtime.context.load_image(task.image_path)  # a bad image is the post's problem: the caller decides
    try:
        verdict = runtime.context.entailment.visibility(image, task.entity)
    except Exception as error:  # noqa: BLE001 - any tool failure is one entity's, never the whole post's
        return Command(goto=Send("ground", replace(task, visible=False)),
                       update={"warnings": [tool_failure("entailment", task.entity.text, error)]})
    return Command(goto=Send("ground", replace(task, visible=verdict.visible, visibility=verdict.probability)))


def ground(task: LocateTask, runtime: Runtime[Toolbox]) -> dict[str, Any]:
    location = Location(task.call_id, bool(task.visible), task.visibility)
    if task.visible:
        image = runtime.context.load_image(task.image_path)
        try:
            found = runtime.context.grounding.locate(image, task.entity)
        except Exception as error:  # noqa: BLE001
            return {"locations": {task.call_id: location},
                    "warnings": [tool_failure("grounding", task.entity.text, error)]}
        if found is not None:
            location = replace(location, box=found.box, box_score=found.score)
    return {"locations": {task.call_id: location}}
