"""Model families and the ONE conversion of a planner's box answer to original-image pixels.

- ``qwen2.5-vl``: boxes are absolute pixels of the image as the model saw it, i.e. after ``smart_resize``
  (sides rounded to multiples of 28 and the area bounded by ``min_pixels`` / ``max_pixels``).
- ``qwen2-vl``: boxes are on a 0-1000 grid over the image, whatever its size.
- ``text``: text-only planners (e.g. the CPU profile's Gemma 3 270M) never see the image and give no boxes.
"""

from __future__ import annotations

from typing import Literal, Sequence

from groundex.agent.schema import Box, ImageSize, SchemaError

Family = Literal["qwen2-vl", "qwen2.5-vl", "text"]
QWEN_PATCH_FACTOR = 28  # patch size 14 x spatial merge 2
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 1280  # the Qwen2.5-VL processor's default bound used by vLLM


def auto_model_class(family: Family) -> type:
    """The transformers auto class that loads a family's weights: ``AutoModelForImageTextToText`` for the Qwen-VL
    families, ``AutoModelForCausalLM`` for text-only models."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    return AutoModelForCausalLM if family == "text" else AutoModelForImageTextToText


def family_from_model_type(model_type: str) -> Family:
    """Map a transformers ``config.model_type`` to a family."""
    return {"qwen2_vl": "qwen2-vl", "qwen2_5_vl": "qwen2.5-vl"}.get(model_type, "text")


def family_from_name(model_name: str) -> Family:
    """Guess the family from a hub id or path (for servers, where no config is at hand)."""
    lowered = model_name.lower().replace("_", "-")
    if "qwen2.5-vl" in lowered or "qwen2-5-vl" in lowered or "qwen3-vl" in lowered:
        return "qwen2.5-vl"
    if "qwen2-vl" in lowered:
        return "qwen2-vl"
    return "text"


def model_input_size(original: ImageSize, min_pixels: int = QWEN_MIN_PIXELS, max_pixels: int = QWEN_MAX_PIXELS) -> ImageSize:
    """The size Qwen-VL processors resize an image to (transformers' ``smart_resize``)."""
    try:  # transformers 5: the PIL backend's module imports without torchvision
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
    except ImportError:  # transformers 4
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    height, width = smart_resize(original.height, original.width, factor=QWEN_PATCH_FACTOR,
                                 min_pixels=min_pixels, max_pixels=max_pixels)
    return ImageSize(width, height)


def box_to_original_pixels(
    coordinates: Sequence[float], family: Family, original: ImageSize, model_input: ImageSize | None = None
) -> Box | None:
    """Convert ``[x1, y1, x2, y2]`` as the model wrote it into a ``Box`` in original pixels, clipped to the image.

    ``model_input`` is the resized size the model saw (needed for ``qwen2.5-vl``; computed with the default
    pixel bounds when omitted). Returns ``None`` for a box that is degenerate or lies outside the image.
    """
    if family == "text":
        raise ValueError("text-only planners give no boxes")
    x1, y1, x2, y2 = (float(c) for c in coordinates)
    if family == "qwen2-vl":
        scale_x, scale_y = original.width / 1000.0, original.height / 1000.0
    else:
        seen = model_input or model_input_size(original)
        scale_x, scale_y = original.width / seen.width, original.height / seen.height
    x1, x2 = sorted((x1 * scale_x, x2 * scale_x))
    y1, y2 = sorted((y1 * scale_y, y2 * scale_y))
    try:
        return Box(x1, y1, x2, y2).clip(original)
    except SchemaError:
        return None
