"""The ``clip`` entailment and ``detector`` grounding backends on tiny random CLIP / OWL-ViT models, loaded
from disk by the same code that loads hub checkpoints."""

from __future__ import annotations

import pytest
from PIL import Image

from groundex.agent.schema import Entity
from groundex.tools.base import ToolSetupError
from groundex.tools.entailment import ENTAILMENT_BACKENDS
from groundex.tools.grounding import GROUNDING_BACKENDS
from tests.support.tiny_models import build_tiny_clip, build_tiny_owlvit

ENTITY = Entity("Messi", 0, 5, "PER", "Lionel Messi, a footballer")
IMAGE = Image.new("RGB", (120, 80), (200, 30, 30))


def test_clip_entailment_gives_a_probability_and_applies_its_threshold(tmp_path):
    model = build_tiny_clip(tmp_path / "clip")
    permissive = ENTAILMENT_BACKENDS["clip"](model=str(model), threshold=0.0).visibility(IMAGE, ENTITY)
    strict = ENTAILMENT_BACKENDS["clip"](model=str(model), threshold=1.0).visibility(IMAGE, ENTITY)
    assert 0.0 <= permissive.probability <= 1.0 and permissive.probability == strict.probability
    assert permissive.visible and not strict.visible


def test_detector_grounding_returns_the_best_box_inside_the_image(tmp_path):
    # seed 1: random weights whose boxes have area (with seed 0 every box is degenerate and the tool says None)
    model = build_tiny_owlvit(tmp_path / "owl", seed=1)
    found = GROUNDING_BACKENDS["detector"](model=str(model), threshold=0.0).locate(IMAGE, ENTITY)
    assert found is not None and 0.0 <= found.score <= 1.0
    assert 0 <= found.box.x1 < found.box.x2 <= 120 and 0 <= found.box.y1 < found.box.y2 <= 80
    assert GROUNDING_BACKENDS["detector"](model=str(model), threshold=1.01).locate(IMAGE, ENTITY) is None


@pytest.mark.parametrize("registry,name", [(ENTAILMENT_BACKENDS, "clip"), (GROUNDING_BACKENDS, "detector")])
def test_missing_weights_name_the_model_and_what_to_do(tmp_path, registry, name):
    with pytest.raises(ToolSetupError, match="does not exist"):
        registry[name](model=str(tmp_path / "absent-model"))
    with pytest.raises(ToolSetupError, match="needs a model"):
        registry[name](model=None)
