"""Planner entities are checked against the post and the schema before any tool runs."""

from __future__ import annotations

from groundex.agent.contract import PlannedEntity
from groundex.agent.schema import Box, Entity, ImageSize, Post
from groundex.agent.type_presets import load_preset
from groundex.agent.validation import checked_box, resolve_span, validate_entities

POST = Post("p", "Messi and messi fans in Madrid , Madrid")


def test_span_from_a_correct_offset_even_when_the_text_repeats():
    assert resolve_span(PlannedEntity("Madrid", "LOC", "", start=33), POST.text) == (33, 39)


def test_span_repaired_from_a_unique_surface_string():
    assert resolve_span(PlannedEntity("Messi", "PER", "", start=7), POST.text) == (0, 5)


def test_repeated_surface_strings_are_placed_in_text_order():
    # lean answers carry no offsets: the n-th listing of a repeated string is its n-th occurrence
    planned = [PlannedEntity("Madrid", "LOC", ""), PlannedEntity("Madrid", "LOC", "")]
    candidates, warnings = validate_entities(planned, POST, load_preset("gmner"))
    assert [c.entity.span for c in candidates] == [(24, 30), (33, 39)] and warnings == []
    assert resolve_span(PlannedEntity("Madrid", "LOC", ""), POST.text, after=31) == (33, 39)


def test_ambiguous_or_absent_surface_strings_are_not_guessed():
    # listed after the last "Madrid" but found twice before it: which one was meant cannot be told
    assert resolve_span(PlannedEntity("Madrid", "LOC", "", start=None), POST.text, after=39) is None
    assert resolve_span(PlannedEntity("Ronaldo", "PER", ""), POST.text) is None


def test_whole_words_are_preferred_to_pieces_of_words():
    post = Post("p", "Also Al Gore")
    assert resolve_span(PlannedEntity("Al", "PER", ""), post.text) == (5, 7)
    assert resolve_span(PlannedEntity("Messi", "PER", ""), "Messi's goal") == (0, 5)


def test_case_insensitive_match_uses_the_post_spelling():
    post = Post("p", "Go BARCELONA !")
    candidates, _ = validate_entities([PlannedEntity("Barcelona", "org", "")], post, load_preset("gmner"))
    assert candidates[0].entity == Entity("BARCELONA", 3, 12, "ORG", "")


def test_hallucinations_unknown_types_and_duplicates_are_dropped_with_warnings():
    planned = [
        PlannedEntity("Ronaldo", "PER", ""),                              # not in the post
        PlannedEntity("Messi", "ATHLETE", ""),                            # not a schema type
        PlannedEntity("Messi", "PER", "Messi", start=0),                  # kept
        PlannedEntity("Messi", "ORG", "", start=0),                       # same span, other type
        PlannedEntity("Messi", "PER", "", start=0, locate_call_id="c1"),  # same span and type: merged
    ]
    candidates, warnings = validate_entities(planned, POST, load_preset("gmner"))
    assert [(c.entity.text, c.entity.type, c.call_id) for c in candidates] == [("Messi", "PER", "c1")]
    assert len(warnings) == 3 and "not found" in warnings[0] and "not in the schema" in warnings[1]


def test_boxes_are_clipped_and_outside_ones_dropped():
    entity = Entity("Messi", 0, 5, "PER")
    assert checked_box(Box(-5, 10, 50, 200), ImageSize(100, 100), entity) == (Box(0, 10, 50, 100), None)
    box, warning = checked_box(Box(150, 10, 200, 50), ImageSize(100, 100), entity)
    assert box is None and "outside" in warning
