"""``assemble``: the validated triples of the turn, and one ToolMessage answering each locate_entity call."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.runtime import Runtime

from groundex.agent.contract import LOCATE_SKIPPED_TEXT, locate_result_text
from groundex.agent.schema import ImageSize, Prediction, Triple
from groundex.agent.state import ExtractionState
from groundex.agent.toolbox import Toolbox
from groundex.agent.validation import checked_box, sort_triples
from groundex.tools.images import image_size


def _image_size(state: ExtractionState, runtime: Runtime[Toolbox]) -> ImageSize | None:
    if state.post.image_path is None:
        return state.post.image_size
    image = runtime.context.load_image(state.post.image_path)
    return image_size(image)


def assemble(state: ExtractionState, runtime: Runtime[Toolbox]) -> dict[str, Any]:
    size = _image_size(state, runtime) if state.locations else None
    triples, warnings = [], []
    answered: dict[str, str] = {}
    for candidate in state.candidates:
        location = state.locations.get(candidate.call_id) if candidate.call_id else None
        box = mask = score = None
        if location is not None and size is not None:
            box, problem = checked_box(location.box, size, candidate.entity)
            if problem:
                warnings.append(problem)
            mask = location.mask if box is not None else None
            score = location.box_score if box is not None else location.visibility
            answered[candidate.call_id] = locate_result_text(location.visible, location.visibility, box)
        # the groundable decision: the planner's locate call, overruled by entailment where the image was seen
        visible = candidate.call_id is not None and (location.visible if location is not None else True)
        triples.append(Triple(candidate.entity, box, mask, score, visible))
    last_ai = next((m for m in reversed(state.messages) if isinstance(m, AIMessage) and m.tool_calls), None)
    already = {m.tool_call_id for m in state.messages if isinstance(m, ToolMessage)}  # earlier turns of a thread
    tool_messages = [
        ToolMessage(answered.get(call["id"], LOCATE_SKIPPED_TEXT), tool_call_id=call["id"], name=call["name"])
        for call in (last_ai.tool_calls if last_ai else []) if call["id"] not in already
    ]
    return {"messages": tool_messages, "warnings": warnings,
            "result": Prediction(state.post.id, tuple(sort_triples(triples)))}
