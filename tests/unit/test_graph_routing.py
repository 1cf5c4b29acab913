"""Graph routing with a scripted planner and table tools (wiring only; real models are tested elsewhere)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from groundex.agent.checkpoints import sqlite_checkpointer
from groundex.agent.contract import PlannedEntity
from groundex.agent.extractor import Extractor
from groundex.agent.nodes.plan import opening_messages
from groundex.agent.schema import Box, Mask, Post
from groundex.agent.state import ExtractionOptions, ExtractionState
from groundex.agent.toolbox import Toolbox
from groundex.agent.type_presets import load_preset
from tests.support.scripted import TableEntailment, TableGrounding, planner_reply, scripted_planner

TEXT = "Messi met Ronaldo in Madrid"
GMNER = load_preset("gmner")
THREE = [PlannedEntity("Messi", "PER", "Messi, a footballer", 0, "c1"),
         PlannedEntity("Ronaldo", "PER", "Ronaldo, a footballer", 10, "c2"),
         PlannedEntity("Madrid", "LOC", "the city of Madrid", 21, "c3")]


class CountingSegmenter:
    def __init__(self):
        self.calls = []

    def segment(self, image, image_key, boxes):
        self.calls.append(list(boxes))
        masks = []
        for box in boxes:
            array = np.zeros((image.height, image.width), dtype=bool)
            array[int(box.y1):int(box.y2), int(box.x1):int(box.x2)] = True
            masks.append(Mask.from_array(array))
        return masks


def toolbox(*replies, visible=("Messi", "Ronaldo", "Madrid"), boxes=None, barrier=None, segmenter=None):
    return Toolbox(planner=scripted_planner(*replies), entailment=TableEntailment(set(visible), barrier),
                   grounding=TableGrounding(boxes or {}), segmentation_factory=lambda: segmenter or CountingSegmenter())


def test_three_entities_run_three_concurrent_tool_branches(blue_image):
    barrier = threading.Barrier(3)  # each branch waits for the other two: sequential branches would time out
    tools = toolbox(planner_reply(THREE), barrier=barrier, boxes={"Messi": Box(10, 10, 100, 190)})
    result = Extractor(tools).extract(Post("p", TEXT, image_path=blue_image), GMNER)
    assert len(tools.entailment.seen_threads) == 3 and barrier.n_waiting == 0 and not barrier.broken
    assert sorted(tools.grounding.calls) == ["Madrid", "Messi", "Ronaldo"]
    assert [(t.entity.text, t.box) for t in result.prediction.triples] == [
        ("Messi", Box(10, 10, 100, 190)), ("Ronaldo", None), ("Madrid", None)]
    assert result.warnings == ()


def test_entities_judged_invisible_are_not_grounded(blue_image):
    tools = toolbox(planner_reply(THREE), visible=("Messi",), boxes={"Messi": Box(1, 1, 9, 9), "Madrid": Box(1, 1, 9, 9)})
    result = Extractor(tools).extract(Post("p", TEXT, image_path=blue_image), GMNER)
    assert tools.grounding.calls == ["Messi"]
    assert [t.box is not None for t in result.prediction.triples] == [True, False, False]


def test_no_tool_calls_means_no_tool_work(blue_image):
    unlocated = [PlannedEntity(e.text, e.type, e.description, e.start) for e in THREE]
    tools = toolbox(planner_reply(unlocated))
    result = Extractor(tools).extract(Post("p", TEXT, image_path=blue_image), GMNER)
    assert tools.entailment.seen_threads == set() and tools.grounding.calls == []
    assert [t.entity.text for t in result.prediction.triples] == ["Messi", "Ronaldo", "Madrid"]
    assert all(t.box is None for t in result.prediction.triples)


def test_an_unparseable_answer_gives_an_empty_result_and_a_warning(blue_image):
    result = Extractor(toolbox("Sure! The entities are Messi and Madrid.")).extract(
        Post("p", TEXT, image_path=blue_image), GMNER)
    assert result.prediction.triples == ()
    assert any("could not be read" in w for w in result.warnings)


def test_hallucinated_spans_and_unknown_types_are_dropped_before_any_tool_runs(blue_image):
    planned = [PlannedEntity("Neymar", "PER", "Neymar", None, "c1"), PlannedEntity("Madrid", "CITY", "Madrid", 21, "c2"),
               PlannedEntity("Messi", "PER", "Messi", 3, "c3")]  # wrong offset, unique text: repaired
    tools = toolbox(planner_reply(planned))
    result = Extractor(tools).extract(Post("p", TEXT, image_path=blue_image), GMNER)
    assert [(t.entity.text, t.entity.start) for t in result.prediction.triples] == [("Messi", 0)]
    assert tools.grounding.calls == ["Messi"]
    assert len(result.warnings) == 2


def test_boxes_outside_the_image_are_clipped_or_dropped(blue_image):  # the image is 300 x 200
    tools = toolbox(planner_reply(THREE), boxes={"Messi": Box(250, 150, 400, 400), "Ronaldo": Box(500, 10, 600, 50)})
    result = Extractor(tools).extract(Post("p", TEXT, image_path=blue_image), GMNER)
    boxes = {t.entity.text: t.box for t in result.prediction.triples}
    assert boxes["Messi"] == Box(250, 150, 300, 200) and boxes["Ronaldo"] is None
    assert any("outside the 300x200 image" in w for w in result.warnings)


def test_masks_are_made_in_one_segmentation_call_only_when_asked(blue_image):
    segmenter = CountingSegmenter()
    boxes = {"Messi": Box(10, 10, 100, 190), "Ronaldo": Box(150, 20, 250, 120)}
    tools = toolbox(planner_reply(THREE), planner_reply(THREE), boxes=boxes, segmenter=segmenter)
    extractor = Extractor(tools)
    without = extractor.extract(Post("p", TEXT, image_path=blue_image), GMNER)
    assert segmenter.calls == [] and all(t.mask is None for t in without.prediction.triples)
    with_masks = extractor.extract(Post("p", TEXT, image_path=blue_image), GMNER, ExtractionOptions(masks=True))
    assert len(segmenter.calls) == 1 and len(segmenter.calls[0]) == 2
    messi = with_masks.prediction.triples[0]
    assert messi.mask.area == 90 * 180 and with_masks.prediction.triples[2].mask is None


def test_text_only_runs_skip_the_tools(blue_image):
    tools = toolbox(planner_reply(THREE))
    result = Extractor(tools).extract(Post("p", TEXT, image_path=blue_image), GMNER, ExtractionOptions(boxes=False))
    assert tools.grounding.calls == [] and len(result.prediction.triples) == 3


def test_every_tool_call_gets_an_answer_in_the_thread_which_persists_in_sqlite(blue_image, tmp_path):
    config = {"configurable": {"thread_id": "t1"}}
    tools = toolbox(planner_reply(THREE), boxes={"Messi": Box(10, 10, 100, 190)})
    Extractor(tools, sqlite_checkpointer(tmp_path / "threads.sqlite")).extract(
        Post("p", TEXT, image_path=blue_image), GMNER, thread_id="t1")
    reopened = Extractor(tools, sqlite_checkpointer(tmp_path / "threads.sqlite"))
    state = reopened.graph.get_state(config).values
    kinds = [type(m).__name__ for m in state["messages"]]
    assert kinds == ["SystemMessage", "HumanMessage", "AIMessage", "ToolMessage", "ToolMessage", "ToolMessage"]
    assert state["result"].triples[0].box == Box(10, 10, 100, 190)


@pytest.mark.parametrize("multimodal", [True, False])
def test_the_prompt_carries_the_types_and_gives_the_image_only_to_multimodal_planners(blue_image, multimodal):
    state = ExtractionState(post=Post("p", TEXT, image_path=blue_image), types=GMNER)
    system, user = opening_messages(state, multimodal)
    assert any(block.get("type") == "image" for block in user.content) is multimodal
    assert "- PER: a person" in system.content and "locate_entity" in system.content
    assert user.content[-1]["text"] == f"Post: {TEXT}"
