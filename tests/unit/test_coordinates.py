"""The one conversion from a planner's box to original pixels, per model family."""

from __future__ import annotations

import pytest

from groundex.agent.backends.coordinates import (box_to_original_pixels, family_from_model_type, family_from_name,
                                                  model_input_size)
from groundex.agent.backends.parsing import parse_box_answer
from groundex.agent.schema import Box, ImageSize


def test_qwen2_vl_boxes_are_on_a_0_to_1000_grid():
    box = box_to_original_pixels([100, 250, 500, 1000], "qwen2-vl", ImageSize(800, 400))
    assert box == Box(80, 100, 400, 400)


def test_qwen2_5_vl_boxes_are_pixels_of_the_resized_image():
    original = ImageSize(1000, 500)
    seen = model_input_size(original, min_pixels=56 * 56, max_pixels=28 * 28 * 256)
    assert seen.width % 28 == 0 and seen.height % 28 == 0 and seen.width * seen.height <= 28 * 28 * 256
    box = box_to_original_pixels([0, 0, seen.width / 2, seen.height], "qwen2.5-vl", original, seen)
    assert box == Box(0, 0, 500, 500)


def test_boxes_are_ordered_clipped_and_degenerate_ones_dropped():
    size = ImageSize(100, 100)
    assert box_to_original_pixels([900, 900, 100, 100], "qwen2-vl", size) == Box(10, 10, 90, 90)
    assert box_to_original_pixels([-50, -50, 2000, 500], "qwen2-vl", size) == Box(0, 0, 100, 50)
    assert box_to_original_pixels([10, 10, 10, 90], "qwen2-vl", size) is None
    with pytest.raises(ValueError):
        box_to_original_pixels([1, 2, 3, 4], "text", size)


def test_families():
    assert family_from_model_type("qwen2_5_vl") == "qwen2.5-vl" and family_from_model_type("gemma3_text") == "text"
    assert family_from_name("Qwen/Qwen2.5-VL-7B-Instruct") == "qwen2.5-vl"
    assert family_from_name("/models/qwen2-vl-2b") == "qwen2-vl" and family_from_name("google/gemma-3-270m") == "text"


@pytest.mark.parametrize("answer,expected", [
    ('{"bbox_2d": [12, 34, 56.5, 78], "label": "man"}', [12, 34, 56.5, 78]),
    ("<|box_start|>(100,200),(300,400)<|box_end|>", [100, 200, 300, 400]),
    ("I cannot see it.", None),
])
def test_box_answers_are_parsed(answer, expected):
    assert parse_box_answer(answer) == expected
