"""Entailment: is the entity visible in the image? (RiVEG's visual entailment step.)

Backends (``ENTAILMENT_BACKENDS``):
- ``mllm``: ask the multimodal planner a yes/no question; probability = P("yes").
- ``clip``: a CLIP or SigLIP image-text score from transformers (SigLIP: sigmoid of the pair logit; CLIP: the
  softmax weight of the description against a neutral caption), thresholded.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import torch
from PIL import Image

from groundex.agent.schema import Entity
from groundex.tools.classic import build_detector_entailment
from groundex.tools.base import EntailmentTool, ToolSetupError, Visibility, VisualQuestionAnswerer
from groundex.tools.loading import inference_device, load_pretrained

NEUTRAL_CAPTION = "a photo"


class MllmEntailment:
    """Asks the planner model ``question_for(entity)``; visible iff P(yes) >= threshold."""

    def __init__(self, answerer: VisualQuestionAnswerer, question_for: Callable[[Entity], str], threshold: float = 0.5):
        self.answerer, self.question_for, self.threshold = answerer, question_for, threshold

    def visibility(self, image: Image.Image, entity: Entity) -> Visibility:
        probability = self.answerer.yes_probability(image, self.question_for(entity))
        return Visibility(probability >= self.threshold, probability)


class ClipEntailment:
    """Image-text matching with a CLIP or SigLIP checkpoint (hub id or local directory)."""

    def __init__(self, model_id: str, threshold: float = 0.5):
        from transformers import AutoModel, AutoProcessor

        self.model = load_pretrained(AutoModel, model_id, "entailment (clip)").eval().to(inference_device())
        self.processor = load_pretrained(AutoProcessor, model_id, "entailment (clip)")
        self.is_sigmoid = "siglip" in self.model.config.model_type
        self.threshold = threshold
        self._lock = threading.Lock()

    @torch.inference_mode()
    def visibility(self, image: Image.Image, entity: Entity) -> Visibility:
        texts = [entity.description or entity.text] + ([] if self.is_sigmoid else [NEUTRAL_CAPTION])
        inputs = self.processor(text=texts, images=image, return_tensors="pt",
                                padding="max_length" if self.is_sigmoid else True).to(self.model.device)
        with self._lock:
            logits = self.model(**inputs).logits_per_image[0]
        probability = torch.sigmoid(logits[0]) if self.is_sigmoid else torch.softmax(logits, dim=-1)[0]
        probability = float(probability)
        return Visibility(probability >= self.threshold, probability)


def _build_mllm(*, answerer: VisualQuestionAnswerer | None = None, question_for: Callable[[Entity], str] | None = None,
                threshold: float | None = None, **_: Any) -> EntailmentTool:
    if answerer is None or question_for is None:
        raise ToolSetupError("entailment backend 'mllm' needs a multimodal planner (vllm-server, vllm-offline or "
                             "transformers with a vision-language model)")
    return MllmEntailment(answerer, question_for, 0.5 if threshold is None else threshold)


def _build_clip(*, model: str | None = None, threshold: float | None = None, **_: Any) -> EntailmentTool:
    if not model:
        raise ToolSetupError("entailment backend 'clip' needs a model, e.g. model = \"google/siglip-base-patch16-224\"")
    return ClipEntailment(model, 0.5 if threshold is None else threshold)


ENTAILMENT_BACKENDS: dict[str, Callable[..., EntailmentTool]] = {"mllm": _build_mllm, "clip": _build_clip, "detector": build_detector_entailment}
