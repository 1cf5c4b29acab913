"""``segment``: one box-prompted mask per located entity; all boxes of the image in one batched call."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langgraph.runtime import Runtime

from groundex.agent.nodes.locate import tool_failure
from groundex.agent.state import ExtractionState
from groundex.agent.toolbox import Toolbox


def segment(state: ExtractionState, runtime: Runtime[Toolbox]) -> dict[str, Any]:
    boxed = [location for location in state.locations.values() if location.box is not None]
    if not boxed or state.post.image_path is None:
        return {}
    image = runtime.context.load_image(state.post.image_path)
    try:
        masks = runtime.context.segmentation.segment(image, str(state.post.image_path.resolve()), [l.box for l in boxed])
    except Exception as error:  # noqa: BLE001 - out of memory in SAM, say: the boxes stand, without masks
        return {"warnings": [tool_failure("segmentation", None, error).replace("not located", "boxes kept without masks")]}
    return {"locations": {location.call_id: replace(location, mask=mask) for location, mask in zip(boxed, masks)}}
