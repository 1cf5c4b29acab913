"""Segmentation: box-prompted masks (SMNER).

Backends (``SEGMENTATION_BACKENDS``):
- ``sam``: segment_anything (vit_b / vit_l / vit_h checkpoints) through ``SamPredictor``, or its PIL
  equivalent where torchvision is missing (``tools/sam_predictor.py``). The image embedding, the expensive
  step, is computed once per image key; all boxes of an image are decoded in one batched call.
- ``hf-sam``: transformers ``SamModel`` + ``SamProcessor`` (hub id or local directory), the same caching.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from groundex.agent.schema import Box, Mask
from groundex.tools.classic import build_grabcut
from groundex.tools.base import SegmentationTool, ToolSetupError
from groundex.tools.loading import cached, inference_device, load_pretrained
from groundex.tools.sam_predictor import box_predictor, segment_anything_builders

SAM_CHECKPOINTS = {
    "vit_h": "sam_vit_h_4b8939.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_b": "sam_vit_b_01ec64.pth",
}
SAM_DOWNLOAD = "https://dl.fbaipublicfiles.com/segment_anything/"


def build_sam_model(variant: str, checkpoint: Path) -> torch.nn.Module:
    """A SAM model from segment_anything's builder registry and a local checkpoint file."""
    sam_model_registry = segment_anything_builders().sam_model_registry

    if variant not in sam_model_registry or variant == "default":
        raise ToolSetupError(f"unknown SAM variant {variant!r}; variants: {', '.join(SAM_CHECKPOINTS)}")
    if not checkpoint.is_file():
        raise ToolSetupError(
            f"SAM checkpoint {checkpoint} not found: download {SAM_DOWNLOAD}{SAM_CHECKPOINTS[variant]} and set "
            f"'checkpoint' in the profile's [segmentation] section"
        )
    return sam_model_registry[variant](checkpoint=str(checkpoint)).eval()


class SamSegmenter:
    """SAM with box prompts: the image embedding once per image key, then one batched decode of all boxes."""

    def __init__(self, model: torch.nn.Module):
        self.predictor = box_predictor(model.to(inference_device()))
        self.embeddings_computed = 0  # how many times the image encoder ran (for tests and benchmarks)
        self._image_key: str | None = None
        self._lock = threading.Lock()

    def segment(self, image: Image.Image, image_key: str, boxes: Sequence[Box]) -> list[Mask]:
        if not boxes:
            return []
        with self._lock:
            if self._image_key != image_key:
                self.predictor.set_image(np.asarray(image.convert("RGB")))
                self._image_key = image_key
                self.embeddings_computed += 1
            masks = self.predictor.predict_boxes(np.array([box.as_list() for box in boxes], dtype=np.float32))
        return [Mask.from_array(mask) for mask in masks]


class HfSamSegmenter:
    """transformers ``SamModel``: image embeddings cached per key, all boxes decoded in one call."""

    def __init__(self, model_id: str):
        from transformers import SamModel, SamProcessor

        self.model = load_pretrained(SamModel, model_id, "segmentation (hf-sam)").eval().to(inference_device())
        self.processor = load_pretrained(SamProcessor, model_id, "segmentation (hf-sam)")
        self.embeddings_computed = 0
        self._image_key: str | None = None
        self._embeddings: torch.Tensor | None = None
        self._lock = threading.Lock()

    @torch.inference_mode()
    def segment(self, image: Image.Image, image_key: str, boxes: Sequence[Box]) -> list[Mask]:
        if not boxes:
            return []
        inputs = self.processor(images=image, input_boxes=[[box.as_list() for box in boxes]],
                                return_tensors="pt").to(self.model.device)
        with self._lock:
            if self._image_key != image_key:
                self._embeddings = self.model.get_image_embeddings(inputs["pixel_values"])
                self._image_key = image_key
                self.embeddings_computed += 1
            outputs = self.model(image_embeddings=self._embeddings, input_boxes=inputs["input_boxes"],
                                 multimask_output=False)
        masks = self.processor.post_process_masks(
            outputs.pred_masks.cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu())[0]
        return [Mask.from_array(mask[0].numpy().astype(bool)) for mask in masks]


def _build_sam(*, model: str | None = None, checkpoint: Path | None = None, **_: Any) -> SegmentationTool:
    variant = model or "vit_h"
    if checkpoint is None:
        raise ToolSetupError(f"segmentation backend 'sam' needs a checkpoint file ({SAM_DOWNLOAD}{SAM_CHECKPOINTS.get(variant, '')})")
    return SamSegmenter(cached(("sam", f"{variant}:{checkpoint}"), lambda: build_sam_model(variant, checkpoint)))


def _build_hf_sam(*, model: str | None = None, **_: Any) -> SegmentationTool:
    return HfSamSegmenter(model or "facebook/sam-vit-base")


SEGMENTATION_BACKENDS: dict[str, Callable[..., SegmentationTool]] = {"sam": _build_sam, "hf-sam": _build_hf_sam, "grabcut": build_grabcut}
