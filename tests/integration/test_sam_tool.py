"""The SAM segmentation tool on a tiny random SAM built with segment_anything's own builder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from groundex.agent.schema import Box
from groundex.tools.base import ToolSetupError
from groundex.tools.segmentation import SEGMENTATION_BACKENDS, SamSegmenter, build_sam_model
from tests.support.tiny_models import build_tiny_sam


@pytest.fixture(scope="module")
def segmenter() -> SamSegmenter:
    return SamSegmenter(build_tiny_sam())


def test_one_mask_per_box_over_the_whole_image(segmenter):
    image = Image.new("RGB", (320, 240), (200, 180, 160))
    masks = segmenter.segment(image, "img-a", [Box(10, 10, 100, 100), Box(150, 50, 300, 230)])
    assert len(masks) == 2 and all(mask.size == (240, 320) for mask in masks)
    assert all(mask.to_array().shape == (240, 320) for mask in masks)


def test_the_image_embedding_is_computed_once_per_image(segmenter):
    image = Image.new("RGB", (200, 300), (10, 120, 40))
    before = segmenter.embeddings_computed
    segmenter.segment(image, "img-b", [Box(5, 5, 50, 50)] * 3)
    segmenter.segment(image, "img-b", [Box(60, 60, 150, 250), Box(1, 1, 199, 299)])
    assert segmenter.embeddings_computed == before + 1
    segmenter.segment(image, "img-c", [Box(5, 5, 50, 50)])
    assert segmenter.embeddings_computed == before + 2
    assert segmenter.segment(image, "img-c", []) == []


def test_missing_checkpoints_and_unknown_variants_are_clear_errors(tmp_path: Path):
    with pytest.raises(ToolSetupError, match=r"sam_vit_b_01ec64\.pth"):
        build_sam_model("vit_b", tmp_path / "missing.pth")
    with pytest.raises(ToolSetupError, match="unknown SAM variant"):
        build_sam_model("vit_xxl", tmp_path / "missing.pth")
    with pytest.raises(ToolSetupError, match="needs a checkpoint"):
        SEGMENTATION_BACKENDS["sam"](model="vit_h", checkpoint=None)


def test_sam_predictor_and_the_pil_path_give_the_same_masks():
    # segment_anything's SamPredictor needs torchvision (absent on the CPU machines, where the PIL path runs)
    pytest.importorskip("torchvision", reason="segment_anything.SamPredictor needs torchvision")
    import numpy as np

    from groundex.tools.sam_predictor import PillowSamPredictor, SegmentAnythingPredictor

    model = build_tiny_sam()
    image = np.asarray(Image.effect_noise((320, 240), 60).convert("RGB"))
    boxes = np.array([[10 + 30 * i, 5 + 20 * i, 60 + 30 * i, 80 + 20 * i] for i in range(8)], dtype=np.float32)
    reference, ours = SegmentAnythingPredictor(model), PillowSamPredictor(model)
    reference.set_image(image)
    ours.set_image(image)
    expected, got = reference.predict_boxes(boxes), ours.predict_boxes(boxes)
    assert expected.shape == got.shape == (8, 240, 320)
    assert (expected != got).mean() < 0.01  # the same steps; resampling may differ on a few edge pixels
