"""Follow-up turns of a chat thread: reading the message, and the graph changing exactly what it names.
(The planner is scripted: these tests check routing and state edits; real profiles are tested in integration.)"""

from __future__ import annotations

import pytest

from groundex.agent.checkpoints import sqlite_checkpointer
from groundex.agent.contract import PlannedEntity
from groundex.agent.errors import GroundexError
from groundex.agent.extractor import Extractor
from groundex.agent.followups import match_entity, parse_followup
from groundex.agent.schema import Box, Entity, Post
from groundex.agent.toolbox import Toolbox
from groundex.agent.type_presets import load_preset
from groundex.tools.base import Grounding
from tests.support.scripted import TableEntailment, planner_reply, scripted_planner

TEXT = "Messi met Ronaldo in Madrid"
GMNER = load_preset("gmner")
NAMES = ["PER", "LOC", "ORG", "OTHER"]
THREE = [PlannedEntity("Messi", "PER", "Messi, a footballer", 0, "c1"),
         PlannedEntity("Ronaldo", "PER", "Ronaldo, a footballer", 10, "c2"),
         PlannedEntity("Madrid", "LOC", "the city of Madrid", 21, None)]
LEFT, RIGHT = Box(0, 0, 100, 200), Box(200, 0, 300, 200)


@pytest.mark.parametrize("message, kind, target, extra", [
    ("Messi is not in the picture", "not_visible", "Messi", None),
    ("messi isn't visible.", "not_visible", "messi", None),
    ("the box for Messi is the man on the left", "reground", "Messi", "the man on the left"),
    ("remove Madrid", "remove", "Madrid", None),
    ("Madrid is not an entity", "remove", "Madrid", None),
    ("Madrid is an ORG", "retype", "Madrid", "ORG"),
    ("also find brands", "add_types", None, ("brand",)),
    ("use types: athlete, team, stadium", "set_types", None, ("athlete", "team", "stadium")),
    ("Madrid is lovely", "ask_planner", None, None),
    ("what else is there?", "ask_planner", None, None),
])
def test_follow_up_messages_are_read_as_the_user_means_them(message, kind, target, extra):
    followup = parse_followup(message, NAMES)
    assert (followup.kind, followup.target) == (kind, target)
    if kind == "reground":
        assert followup.description == extra
    if kind == "retype":
        assert followup.new_type == extra
    if kind in ("add_types", "set_types"):
        assert followup.type_names == extra


def test_entity_names_match_loosely_but_prefer_the_exact_one():
    entities = [Entity("Lionel Messi", 0, 12, "PER"), Entity("@Messi", 20, 26, "PER")]
    assert match_entity("@Messi", entities).start == 20
    assert match_entity("lionel messi", entities).start == 0
    assert match_entity("Ronaldo", entities) is None


class SideGrounding:
    """Boxes the person on the side the description names; the right one by default."""

    def __init__(self):
        self.descriptions = []

    def locate(self, image, entity):
        self.descriptions.append(entity.description)
        return Grounding(LEFT if "left" in entity.description else RIGHT, 0.8)


def chat(blue_image, tmp_path, *replies):
    planner = scripted_planner(planner_reply(THREE), *replies)
    grounding = SideGrounding()
    tools = Toolbox(planner=planner, entailment=TableEntailment(set(), everything=True), grounding=grounding,
                    segmentation_factory=lambda: None)
    extractor = Extractor(tools, sqlite_checkpointer(tmp_path / "threads.sqlite"))
    first = extractor.extract(Post("p", TEXT, image_path=blue_image), GMNER, thread_id="t")
    return extractor, planner, grounding, first


def boxes(result):
    return {t.entity.text: (t.entity.type, t.box) for t in result.prediction.triples}


@pytest.mark.parametrize("message, changed", [
    ("Messi is not in the picture", {"Messi": ("PER", None)}),
    ("the box for Messi is the man on the left", {"Messi": ("PER", LEFT)}),
    ("Madrid is an ORG", {"Madrid": ("ORG", None)}),
    ("remove Ronaldo", {"Ronaldo": None}),
])
def test_a_correction_changes_exactly_the_entity_it_names_without_asking_the_planner(blue_image, tmp_path, message, changed):
    extractor, planner, _, first = chat(blue_image, tmp_path)
    before = boxes(first)
    assert before == {"Messi": ("PER", RIGHT), "Ronaldo": ("PER", RIGHT), "Madrid": ("LOC", None)}
    after = boxes(extractor.follow_up("t", message))
    expected = {k: v for k, v in {**before, **changed}.items() if v is not None}
    assert after == expected
    assert planner.calls == 1


def test_corrections_accumulate_and_the_thread_reads_as_a_conversation(blue_image, tmp_path):
    extractor, _, _, _ = chat(blue_image, tmp_path)
    extractor.follow_up("t", "Messi is not in the picture")
    result = extractor.follow_up("t", "Madrid is an ORG")
    assert boxes(result) == {"Messi": ("PER", None), "Ronaldo": ("PER", RIGHT), "Madrid": ("ORG", None)}
    messages = extractor.thread_state("t").messages
    assert [type(m).__name__ for m in messages[-4:]] == ["HumanMessage", "AIMessage", "HumanMessage", "AIMessage"]
    assert "ORG" in messages[-1].content
    assert sum(type(m).__name__ == "ToolMessage" for m in messages) == 2  # answered once, not again per turn


def test_a_correction_naming_no_entity_changes_nothing_and_says_so(blue_image, tmp_path):
    extractor, _, _, first = chat(blue_image, tmp_path)
    result = extractor.follow_up("t", "Neymar is not in the picture")
    assert boxes(result) == boxes(first)
    assert "no entity matching 'Neymar'" in extractor.thread_state("t").messages[-1].content


def test_new_types_replan_the_post_and_warnings_are_per_turn(blue_image, tmp_path):
    athletes = [PlannedEntity("Messi", "athlete", "Messi", 0, "a1"), PlannedEntity("Madrid", "city", "Madrid", 21, None),
                PlannedEntity("Nowhere", "athlete", "x", 0, None)]  # not in the post: a warning of this turn only
    extractor, planner, _, _ = chat(blue_image, tmp_path, planner_reply(athletes), planner_reply(THREE))
    result = extractor.follow_up("t", "use types: athletes, cities")
    assert boxes(result) == {"Messi": ("athlete", RIGHT), "Madrid": ("city", None)}
    assert [t.name for t in extractor.thread_state("t").types] == ["athlete", "city"]
    assert "athlete" in extractor.thread_state("t").messages[0].content  # the new schema's system prompt
    assert any("Nowhere" in w for w in result.warnings)
    again = extractor.follow_up("t", "also find PER")
    assert [t.name for t in extractor.thread_state("t").types] == ["athlete", "city", "PER"]
    assert not any("Nowhere" in w for w in again.warnings)
    assert planner.calls == 3


def test_other_messages_go_to_the_planner_with_the_history(blue_image, tmp_path):
    extractor, planner, _, _ = chat(blue_image, tmp_path, planner_reply(THREE[:1]))
    result = extractor.follow_up("t", "Only keep the footballer you are sure about")
    assert list(boxes(result)) == ["Messi"]
    history = extractor.thread_state("t").messages
    assert [type(m).__name__ for m in history].count("HumanMessage") == 2


def test_an_unreadable_follow_up_answer_keeps_the_result(blue_image, tmp_path):
    extractor, _, _, first = chat(blue_image, tmp_path, "I am not sure what you mean")
    result = extractor.follow_up("t", "hmm?")
    assert boxes(result) == boxes(first)
    assert any("unchanged" in w for w in result.warnings)


def test_a_new_first_turn_on_a_thread_starts_its_conversation_again(blue_image, tmp_path):
    extractor, _, _, _ = chat(blue_image, tmp_path, planner_reply(THREE))
    extractor.extract(Post("p2", TEXT, image_path=blue_image), GMNER, thread_id="t")
    kinds = [type(m).__name__ for m in extractor.thread_state("t").messages]
    assert kinds[:3] == ["SystemMessage", "HumanMessage", "AIMessage"] and kinds.count("SystemMessage") == 1


def test_follow_ups_need_an_existing_thread(blue_image, tmp_path):
    extractor, _, _, _ = chat(blue_image, tmp_path)
    with pytest.raises(GroundexError, match="no extraction yet"):
        extractor.follow_up("other", "remove Messi")


def test_a_new_post_after_a_follow_up_is_planned_afresh_not_read_as_the_old_follow_up(blue_image, tmp_path):
    # the turn kind is an explicit field of each turn's input: a stale follow-up message must not route a new post
    extractor, planner, _, _ = chat(blue_image, tmp_path, planner_reply(THREE[:1]))
    extractor.follow_up("t", "remove Ronaldo")
    result = extractor.extract(Post("p", TEXT, image_path=blue_image), GMNER, thread_id="t")
    assert planner.calls == 2
    assert [t.entity.text for t in result.prediction.triples] == ["Messi"]
    state = extractor.thread_state("t")
    assert state.turn == "first" and not state.is_follow_up
    assert [type(m).__name__ for m in state.messages] == ["SystemMessage", "HumanMessage", "AIMessage", "ToolMessage"]


def test_warnings_are_the_turns_own(blue_image, tmp_path):
    extractor, _, _, first = chat(blue_image, tmp_path, "not json at all")
    assert first.warnings == ()
    unreadable = extractor.follow_up("t", "what else is there?")
    assert unreadable.warnings and "unchanged" in unreadable.warnings[-1]
    assert boxes(unreadable) == boxes(first)  # the thread's result survives an unreadable answer
    assert extractor.follow_up("t", "remove Ronaldo").warnings == ()
