"""The planner contract: reading answers (well-formed or not) and writing them back."""

from __future__ import annotations

import json

from langchain_core.messages import ToolCall

from groundex.agent.contract import (LOCATE_TOOL, PlannedEntity, read_planner_answer, render_planner_answer,
                                     split_tool_calls)

RAW = (
    '{"entities": [{"text": "Messi", "start": 0, "type": "PER", "description": "Messi, a footballer"},'
    ' {"text": "Madrid", "type": "LOC", "description": "Madrid"}]}\n'
    '<tool_call>\n{"name": "locate_entity", "arguments": {"text": "Messi", "type": "PER", '
    '"description": "the man in the red shirt"}}\n</tool_call>'
)


def test_hermes_tool_calls_are_split_from_the_content():
    content, calls, problems = split_tool_calls(RAW)
    assert content.startswith('{"entities"') and "<tool_call>" not in content
    assert [c["name"] for c in calls] == [LOCATE_TOOL] and calls[0]["args"]["text"] == "Messi"
    assert problems == []


def test_entities_link_to_their_locate_calls_and_take_the_call_description():
    content, calls, _ = split_tool_calls(RAW)
    answer = read_planner_answer(content, calls)
    messi, madrid = answer.entities
    assert (messi.start, messi.locate_call_id, messi.description) == (0, calls[0]["id"], "the man in the red shirt")
    assert (madrid.start, madrid.locate_call_id) == (None, None)


def test_a_locate_call_for_an_unlisted_entity_adds_it():
    call = ToolCall(name=LOCATE_TOOL, args={"text": "Bob", "type": "PER", "description": "Bob"}, id="c9", type="tool_call")
    answer = read_planner_answer('{"entities": []}', [call])
    assert [(e.text, e.locate_call_id) for e in answer.entities] == [("Bob", "c9")]


def test_unreadable_answers_become_problems_not_exceptions():
    assert read_planner_answer("I think there is Messi.", []).problems[0].startswith("unreadable entity list")
    content, calls, problems = split_tool_calls('{"entities": []}<tool_call>{not json</tool_call>')
    assert calls == [] and problems and problems[0].startswith("unreadable tool call")
    answer = read_planner_answer('{"entities": [{"text": 3}, "x", {"text": "Bob", "type": "PER"}]}', [])
    assert [e.text for e in answer.entities] == ["Bob"] and len(answer.problems) == 2


def test_json_in_prose_or_code_fences_is_found_and_unknown_tools_are_reported():
    fenced = 'Here you go:\n```json\n{"entities": [{"text": "Bob", "type": "PER"}]}\n```'
    other = ToolCall(name="web_search", args={}, id="x", type="tool_call")
    answer = read_planner_answer(fenced, [other])
    assert [e.text for e in answer.entities] == ["Bob"] and answer.entities[0].description == "Bob"
    assert answer.problems == ("unknown tool 'web_search' ignored",)


def test_render_then_read_round_trips():
    entities = [PlannedEntity("Messi", "PER", "Messi, a person", 0, "call_0"), PlannedEntity("Madrid", "LOC", "Madrid", 21)]
    content, calls = render_planner_answer(entities)
    assert json.loads(content)["entities"][1] == {"text": "Madrid", "start": 21, "type": "LOC", "description": "Madrid"}
    assert read_planner_answer(content, calls).entities == tuple(entities)


def test_lean_answers_leave_out_offsets_and_descriptions_and_read_back():
    entities = [PlannedEntity("Messi", "PER", "Messi", 0, "call_0"), PlannedEntity("Madrid", "LOC", "Madrid", 21)]
    content, calls = render_planner_answer(entities, "lean")
    assert json.loads(content) == {"entities": [{"text": "Messi", "type": "PER"}, {"text": "Madrid", "type": "LOC"}]}
    assert [c["args"] for c in calls] == [{"text": "Messi"}]
    read = read_planner_answer(content, calls).entities
    assert [(e.text, e.type, e.start, e.description, e.locate_call_id) for e in read] == \
        [("Messi", "PER", None, "Messi", "call_0"), ("Madrid", "LOC", None, "Madrid", None)]
    from groundex.agent.contract import planner_tools

    assert list(planner_tools("lean")[0]["function"]["parameters"]["properties"]) == ["text"]
    assert planner_tools("full")[0]["function"]["parameters"]["required"] == ["text", "type", "description"]


def test_answer_style_auto_is_full_for_image_planners_and_lean_for_text_ones():
    import pytest

    from groundex.agent.contract import resolve_answer_style

    assert (resolve_answer_style("auto", True), resolve_answer_style("auto", False)) == ("full", "lean")
    assert resolve_answer_style("full", False) == "full"
    with pytest.raises(ValueError, match="unknown answer style"):
        resolve_answer_style("short", False)


def test_decision_points_are_the_choices_of_an_answer_not_its_format():
    from groundex.agent.contract import decision_offsets

    answer = ('{"entities": [{"text": "Nick Jonas", "type": "musician"}, {"text": "Demi Lovato", "type": "actor"}]}\n'
              '<tool_call>\n{"name": "locate_entity", "arguments": {"text": "Demi Lovato"}}\n</tool_call><|im_end|>')
    at = [answer[o:o + 4] for o in decision_offsets(answer)]
    # any entity, span, type, go on, span, type, close the list, a call follows, which one, no further call
    assert at == ['{"te', "Nick", "musi", ', {"', "Demi", "acto", "]}\n<", "\n<to", "Demi", "<|im"]
    empty = '{"entities": []}<|im_end|>'
    assert [empty[o:o + 3] for o in decision_offsets(empty)] == ["]}<", "<|i"]


def test_an_entity_list_cut_off_at_the_token_limit_keeps_its_complete_entities():
    cut = '{"entities": [{"text": "Messi", "type": "PER"}, {"text": "Madrid", "type": "LOC"}, {"text": "Bar'
    answer = read_planner_answer(cut, [])
    assert [e.text for e in answer.entities] == ["Messi", "Madrid"]
    assert "kept its 2 complete entities" in answer.problems[0]
    assert read_planner_answer('{"entities": [{"text": "Mes', []).problems[0].startswith("unreadable entity list")
