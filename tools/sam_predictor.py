"""Box-prompted SAM inference: ``SamPredictor`` where it imports, else the same steps without torchvision.

``segment_anything.SamPredictor`` resizes images with torchvision, which has no build for the CPU torch these
machines use. ``PillowSamPredictor`` runs the identical sequence on the model's own modules (``preprocess``,
``image_encoder``, ``prompt_encoder``, ``mask_decoder``, ``postprocess_masks``) and resizes the longest side to
the encoder size with PIL bilinear, which is what torchvision's ``resize`` does for a PIL image. Both expose
``set_image(rgb uint8 HxWx3)`` and ``predict_boxes(boxes Nx4 original pixels) -> bool N x H x W``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

import numpy as np
import torch
from PIL import Image


def segment_anything_builders() -> types.ModuleType:
    """segment_anything's ``build_sam`` module (``sam_model_registry``, ``_build_sam``).

    The package's ``__init__`` imports its torchvision-based predictor; where torchvision is missing, the
    package is registered without running that ``__init__`` so that its model code (which needs only torch)
    still imports. Where torchvision is present this is the ordinary import.
    """
    try:
        import segment_anything  # noqa: F401
    except ImportError as error:
        if "torchvision" not in str(error):
            raise
        spec = importlib.util.find_spec("segment_anything")
        package = types.ModuleType("segment_anything")
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules["segment_anything"] = package
    return importlib.import_module("segment_anything.build_sam")


def preprocess_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) after scaling the longest side to ``long_side`` (segment_anything's rounding)."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


class PillowSamPredictor:
    def __init__(self, model: Any):
        self.model = model
        self.features: torch.Tensor | None = None
        self.original_size: tuple[int, int] | None = None
        self.input_size: tuple[int, int] | None = None

    @torch.inference_mode()
    def set_image(self, image: np.ndarray) -> None:
        """Compute the image embedding (the expensive step) for an RGB uint8 ``H x W x 3`` array."""
        height, width = image.shape[:2]
        new_height, new_width = preprocess_shape(height, width, self.model.image_encoder.img_size)
        resized = np.array(Image.fromarray(image).resize((new_width, new_height), Image.BILINEAR))
        device = next(self.model.parameters()).device
        tensor = torch.as_tensor(resized, device=device).permute(2, 0, 1).contiguous()[None]
        self.features = self.model.image_encoder(self.model.preprocess(tensor))
        self.original_size, self.input_size = (height, width), (new_height, new_width)

    @torch.inference_mode()
    def predict_boxes(self, boxes: np.ndarray) -> np.ndarray:
        """Masks for ``N x 4`` boxes (x1, y1, x2, y2 in original pixels): a bool ``N x H x W`` array."""
        if self.features is None:
            raise RuntimeError("set_image must be called before predict_boxes")
        scale_y = self.input_size[0] / self.original_size[0]
        scale_x = self.input_size[1] / self.original_size[1]
        device = self.features.device
        scaled = torch.as_tensor(boxes, dtype=torch.float32, device=device) * torch.tensor(
            [scale_x, scale_y, scale_x, scale_y], device=device)
        sparse, dense = self.model.prompt_encoder(points=None, boxes=scaled, masks=None)
        low_res, _ = self.model.mask_decoder(
            image_embeddings=self.features, image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense, multimask_output=False)
        masks = self.model.postprocess_masks(low_res, self.input_size, self.original_size)
        return (masks[:, 0] > self.model.mask_threshold).cpu().numpy()


class SegmentAnythingPredictor:
    """``segment_anything.SamPredictor`` behind the same two methods."""

    def __init__(self, model: Any):
        from segment_anything.predictor import SamPredictor

        self.predictor = SamPredictor(model)

    def set_image(self, image: np.ndarray) -> None:
        self.predictor.set_image(image)

    @torch.inference_mode()
    def predict_boxes(self, boxes: np.ndarray) -> np.ndarray:
        box_tensor = torch.as_tensor(boxes, dtype=torch.float32, device=self.predictor.device)
        transformed = self.predictor.transform.apply_boxes_torch(box_tensor, self.predictor.original_size)
        masks, _, _ = self.predictor.predict_torch(point_coords=None, point_labels=None, boxes=transformed,
                                                   multimask_output=False)
        return masks[:, 0].cpu().numpy()


def box_predictor(model: Any) -> SegmentAnythingPredictor | PillowSamPredictor:
    """``SamPredictor`` when segment_anything's torchvision-based transforms import, else the PIL equivalent."""
    try:
        return SegmentAnythingPredictor(model)
    except ImportError:
        return PillowSamPredictor(model)
