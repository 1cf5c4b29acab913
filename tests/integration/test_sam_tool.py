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
