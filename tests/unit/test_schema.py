"""The data model validates itself and its geometry is right."""

from __future__ import annotations

import math

import numpy as np
import pytest

from groundex.agent.schema import Box, Entity, EntityType, ImageSize, Mask, Post, SchemaError, Triple, TypeSchema


@pytest.mark.parametrize("coords", [(0, 0, 0, 5), (5, 0, 4, 5), (0, 3, 5, 3), (0, 0, math.nan, 5), (0, 0, math.inf, 5)])
def test_box_rejects_degenerate_or_non_finite(coords):
    with pytest.raises(SchemaError):
        Box(*coords)


def test_box_accepts_numpy_scalars():
    box = Box(np.float32(1), np.int64(2), np.float64(3.5), 4)
    assert box.area == pytest.approx(2.5 * 2)


def test_box_iou_on_continuous_coordinates():
    assert Box(0, 0, 10, 10).iou(Box(5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert Box(0, 0, 10, 10).iou(Box(10, 0, 20, 10)) == 0.0  # touching edges do not overlap
    assert Box(0, 0, 10, 10).iou(Box(0, 0, 10, 10)) == 1.0


def test_box_clip_to_image():
    size = ImageSize(100, 50)
    assert Box(-10, -5, 50, 60).clip(size) == Box(0, 0, 50, 50)
    assert Box(120, 0, 130, 10).clip(size) is None


@pytest.mark.parametrize("start,end", [(3, 3), (4, 2), (-1, 2)])
def test_entity_rejects_empty_or_negative_span(start, end):
    with pytest.raises(SchemaError):
        Entity("x" * max(end - start, 1), start, end, "PER")


def test_entity_text_length_must_equal_span_length():
    with pytest.raises(SchemaError, match="length"):
        Entity("Messi", 0, 4, "PER")


def test_entity_matches_post_text_at_its_offsets():
    entity = Entity("Messi", 4, 9, "PER")
    assert entity.matches("Hey Messi !")
    assert not entity.matches("Hey Lionel")


def test_post_text_must_be_its_tokens_joined_by_spaces():
    post = Post("1", "Hi @ Bob", tokens=("Hi", "@", "Bob"))
    assert post.token_offsets() == [(0, 2), (3, 4), (5, 8)]
    with pytest.raises(SchemaError):
        Post("1", "Hi  Bob", tokens=("Hi", "Bob"))


def test_mask_round_trips_through_rle():
    array = np.zeros((6, 8), dtype=bool)
    array[1:4, 2:7] = True
    mask = Mask.from_array(array)
    assert mask.size == (6, 8) and mask.area == 15
    np.testing.assert_array_equal(mask.to_array(), array)
    assert mask.iou(mask) == 1.0


def test_mask_from_uncompressed_counts_equals_compressed():
    array = np.zeros((4, 4), dtype=bool)
    array[0:2, 0:1] = True  # column-major runs: 2 on, 14 off
    assert Mask.from_coco([4, 4], [0, 2, 14]) == Mask.from_array(array)
    with pytest.raises(SchemaError):
        Mask.from_coco([4, 4], [0, 2, 13])


def test_triple_score_must_be_a_probability():
    with pytest.raises(SchemaError):
        Triple(Entity("Bob", 0, 3, "PER"), score=1.5)


def test_type_schema_rejects_duplicates_and_reports_unknown_types():
    with pytest.raises(SchemaError, match="twice"):
        TypeSchema("s", (EntityType("PER", "a"), EntityType("PER", "b")))
    schema = TypeSchema("s", (EntityType("PER", "a"), EntityType("athlete", "b", group="person")))
    assert schema.group_of("athlete") == "person" and schema.group_of("PER") == "PER"
    with pytest.raises(SchemaError, match="not in schema"):
        schema.get("LOC")
