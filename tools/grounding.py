"""Grounding: a box for an entity in the image.

Backends (``GROUNDING_BACKENDS``):
- ``mllm``: the planner model's own box answer to the grounding question (converted to original pixels by
  the planner backend).
- ``detector``: a transformers zero-shot object detector (OWLv2, OWL-ViT, Grounding DINO) queried with the
  entity's description; the highest-scoring box above the threshold that lies (partly) inside the image.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import torch
from PIL import Image

from groundex.agent.schema import Box, Entity, SchemaError
from groundex.tools.classic import build_person_grounding
from groundex.tools.base import Grounding, GroundingTool, ToolSetupError, VisualQuestionAnswerer
from groundex.tools.images import image_size
from groundex.tools.loading import inference_device, load_pretrained


class MllmGrounding:
    def __init__(self, answerer: VisualQuestionAnswerer, question_for: Callable[[Entity], str]):
        self.answerer, self.question_for = answerer, question_for

    def locate(self, image: Image.Image, entity: Entity) -> Grounding | None:
        box = self.answerer.ask_box(image, self.question_for(entity))
        return Grounding(box) if box is not None else None


class DetectorGrounding:
    """Zero-shot detection with the entity description as the text query."""

    def __init__(self, model_id: str, threshold: float = 0.1):
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        self.model = load_pretrained(AutoModelForZeroShotObjectDetection, model_id, "grounding (detector)").eval().to(
            inference_device())
        self.processor = load_pretrained(AutoProcessor, model_id, "grounding (detector)")
        self.threshold = threshold
        self._lock = threading.Lock()

    @torch.inference_mode()
    def locate(self, image: Image.Image, entity: Entity) -> Grounding | None:
        query = entity.description or entity.text
        # Grounding DINO reads one lower-case sentence ending in "."; the OWL family takes a list of queries.
        dino = "grounding" in self.model.config.model_type
        text = query.lower().rstrip(".") + "." if dino else [[query]]
        inputs = self.processor(text=text, images=image, return_tensors="pt").to(self.model.device)
        with self._lock:
            outputs = self.model(**inputs)
        target_sizes = torch.tensor([[image.height, image.width]], device=self.model.device)
        if dino:
            result = self.processor.post_process_grounded_object_detection(
                outputs, input_ids=inputs["input_ids"], threshold=self.threshold, target_sizes=target_sizes)[0]
        else:
            result = self.processor.post_process_grounded_object_detection(
                outputs=outputs, threshold=self.threshold, target_sizes=target_sizes)[0]
        size = image_size(image)
        for index in torch.argsort(result["scores"], descending=True).tolist():
            try:
                box = Box(*(float(v) for v in result["boxes"][index])).clip(size)
            except SchemaError:  # a degenerate raw box
                continue
            if box is not None:
                return Grounding(box, float(result["scores"][index]))
        return None


def _build_mllm(*, answerer: VisualQuestionAnswerer | None = None, question_for: Callable[[Entity], str] | None = None,
                **_: Any) -> GroundingTool:
    if answerer is None or question_for is None:
        raise ToolSetupError("grounding backend 'mllm' needs a multimodal planner")
    return MllmGrounding(answerer, question_for)


def _build_detector(*, model: str | None = None, threshold: float | None = None, **_: Any) -> GroundingTool:
    if not model:
        raise ToolSetupError("grounding backend 'detector' needs a model, e.g. model = \"google/owlv2-base-patch16-ensemble\"")
    return DetectorGrounding(model, 0.1 if threshold is None else threshold)


GROUNDING_BACKENDS: dict[str, Callable[..., GroundingTool]] = {"mllm": _build_mllm, "detector": _build_detector, "opencv-person": build_person_grounding}
