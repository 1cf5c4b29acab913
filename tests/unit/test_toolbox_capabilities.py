"""A profile whose tools need a planner capability the planner lacks is refused when the toolbox is built
(one line naming the profile, the tool and the backend), never mid-run inside a node."""

from __future__ import annotations

import pytest

from groundex.agent.config import load_settings
from groundex.agent.toolbox import build_toolbox
from groundex.tools.base import ToolSetupError, VisualQuestionAnswerer
from groundex.tools.entailment import MllmEntailment
from groundex.tools.grounding import MllmGrounding
from tests.support.scripted import ScriptedPlanner, scripted_planner

OFFLINE_VL = {"profiles": {"gpu": {"planner": {"backend": "vllm-offline", "model": "Qwen/Qwen2.5-VL-7B-Instruct"}}}}


class AnsweringPlanner(ScriptedPlanner):
    """A scripted multimodal planner that also answers the MLLM tools' questions (fixed answers)."""

    def yes_probability(self, image, question):
        return 0.9

    def ask_box(self, image, question):
        return None


def test_an_offline_vllm_planner_with_mllm_tools_is_refused_before_its_engine_starts():
    settings = load_settings(profile="gpu", overrides=OFFLINE_VL, environ={})
    with pytest.raises(ToolSetupError) as refused:
        build_toolbox(settings)  # vLLM is never imported: the registry says what the backend can do
    message = str(refused.value)
    assert "\n" not in message
    assert "'gpu'" in message and "entailment backend 'mllm'" in message and "'vllm-offline'" in message


def test_a_planner_that_cannot_answer_image_questions_is_refused_for_mllm_tools():
    settings = load_settings(profile="gpu", environ={})
    with pytest.raises(ToolSetupError, match=r"profile 'gpu': entailment backend 'mllm' .* ScriptedPlanner cannot"):
        build_toolbox(settings, planner=scripted_planner("{}"))
    with pytest.raises(ToolSetupError, match="is text-only"):
        build_toolbox(settings, planner=scripted_planner("{}", multimodal=False))


def test_a_planner_that_answers_image_questions_serves_the_mllm_tools():
    planner = AnsweringPlanner(messages=iter([]))
    assert isinstance(planner, VisualQuestionAnswerer)
    toolbox = build_toolbox(load_settings(profile="gpu", environ={}), planner=planner)
    assert isinstance(toolbox.entailment, MllmEntailment) and toolbox.entailment.answerer is planner
    assert isinstance(toolbox.grounding, MllmGrounding)
    assert toolbox.answer_style == "full"


def test_a_text_planner_with_classic_tools_is_fine_and_answers_lean_by_default():
    cv2 = pytest.importorskip("cv2", reason="the classic tools need OpenCV (opencv-python-headless<5)")
    if not hasattr(cv2, "CascadeClassifier"):  # the GPU machine's image ships OpenCV 5, which dropped it
        pytest.skip(f"OpenCV {cv2.__version__} has no CascadeClassifier: the classic tools need opencv-python-headless<5")
    toolbox = build_toolbox(load_settings(profile="spacy-baseline", environ={}),
                            planner=scripted_planner("{}", multimodal=False))
    assert toolbox.entailment is not None and toolbox.answer_style == "lean"
