"""The CPU profile's weight-free vision tools on real photos (examples/images, public domain / CC0)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from groundex.agent.config import load_settings
from groundex.agent.contract import PlannedEntity
from groundex.agent.extractor import Extractor
from groundex.agent.schema import Box, Entity, Post
from groundex.agent.toolbox import build_toolbox
from groundex.agent.type_presets import load_preset, person_type_names
from groundex.tools.classic import GrabCutSegmentation
from groundex.tools.entailment import ENTAILMENT_BACKENDS
from groundex.tools.grounding import GROUNDING_BACKENDS
from tests.support.scripted import planner_reply, scripted_planner

IS_PERSON = person_type_names().__contains__
COLLINS = Entity("Eileen Collins", 0, 14, "PER", "Eileen Collins, an astronaut")


@pytest.fixture(scope="module")
def photos(repo_root):
    return {name: Image.open(repo_root / "examples" / "images" / f"{name}.png").convert("RGB") for name in ("astronaut", "coffee")}


def test_detector_entailment_rejects_a_person_without_people_and_accepts_one_with(photos):
    entailment = ENTAILMENT_BACKENDS["detector"](is_person=IS_PERSON)
    assert not entailment.visibility(photos["coffee"], COLLINS).visible
    assert entailment.visibility(photos["astronaut"], COLLINS).visible
    athlete = Entity("Eileen Collins", 0, 14, "athlete")  # FMNERG person types count as people too
    assert entailment.visibility(photos["astronaut"], athlete).visible
    cup = Entity("Pikolo", 0, 6, "ORG")  # no detector for organizations: the planner's judgement stands
    assert entailment.visibility(photos["coffee"], cup).probability == 0.5


def test_person_grounding_boxes_the_astronaut_and_nothing_else(photos):
    grounding = GROUNDING_BACKENDS["opencv-person"](is_person=IS_PERSON)
    found = grounding.locate(photos["astronaut"], COLLINS)
    assert found is not None and 0 <= found.box.x1 < 230 < found.box.x2 <= 512 and 0 <= found.box.y1 < 120 < found.box.y2 <= 512
    assert grounding.locate(photos["coffee"], COLLINS) is None
    assert grounding.locate(photos["astronaut"], Entity("NASA", 0, 4, "ORG")) is None


def test_grabcut_returns_a_mask_inside_its_box(photos):
    boxes = [Box(150, 20, 330, 260), Box(10, 10, 14, 14)]
    masks = GrabCutSegmentation().segment(photos["astronaut"], "astronaut", boxes)
    for mask, box in zip(masks, boxes):
        array = mask.to_array()
        assert array.shape == (512, 512) and array.any()
        ys, xs = np.nonzero(array)
        assert box.x1 <= xs.min() and xs.max() < box.x2 and box.y1 <= ys.min() and ys.max() < box.y2
    assert masks[0].area < 180 * 240  # GrabCut separated something from the background


def test_the_default_cpu_profile_tools_run_through_the_graph(repo_root):
    settings = load_settings(environ={})
    assert settings.profile == "cpu"
    planner = scripted_planner(planner_reply([PlannedEntity("Eileen Collins", "PER", "Eileen Collins", 0, "c1"),
                                              PlannedEntity("NASA", "ORG", "NASA", 24, "c2")]), multimodal=False)
    extractor = Extractor(build_toolbox(settings, planner=planner))
    post = Post("astronaut", "Eileen Collins flew for NASA", image_path=repo_root / "examples" / "images" / "astronaut.png")
    result = extractor.extract(post, load_preset("gmner"))
    collins, nasa = result.prediction.triples
    assert collins.box is not None and nasa.box is None


def test_a_position_word_in_the_description_picks_the_person_box():
    from groundex.agent.schema import Box
    from groundex.tools.classic import pick_by_position

    left, middle, right = Box(0, 0, 50, 100), Box(120, 0, 180, 150), Box(250, 0, 300, 60)
    boxes = [middle, right, left]
    assert pick_by_position(boxes, "the man on the left", 300) == left
    assert pick_by_position(boxes, "the woman on the right", 300) == right
    assert pick_by_position(boxes, "Messi, in the middle", 300) == middle
    assert pick_by_position(boxes, "the smallest one", 300) == right
    assert pick_by_position(boxes, "Messi, a footballer", 300) == middle  # no position: the detector's first
