"""The planner and tools a graph run uses, built once from a profile and passed as the graph's context.

Capabilities are checked here, where the parts are built: a profile whose ``mllm`` entailment or grounding tool
needs a planner that answers questions about the image (``VisualQuestionAnswerer``), while its planner backend or
model cannot, is refused with one line naming the profile, the tool and the backend, before any weights load.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from groundex.agent.backends.base import Planner
from groundex.agent.backends.registry import PLANNER_BACKENDS, build_planner
from groundex.agent.config import Settings, ToolSettings
from groundex.agent.contract import AnswerStyle, resolve_answer_style
from groundex.agent.prompting import entailment_question, grounding_question
from groundex.agent.schema import Entity
from groundex.agent.type_presets import person_type_names
from groundex.tools.base import EntailmentTool, GroundingTool, SegmentationTool, ToolSetupError, VisualQuestionAnswerer
from groundex.tools.entailment import ENTAILMENT_BACKENDS
from groundex.tools.grounding import GROUNDING_BACKENDS
from groundex.tools.images import load_image
from groundex.tools.segmentation import SEGMENTATION_BACKENDS

IMAGE_CACHE_SIZE = 16
ASKS_THE_PLANNER = "mllm"  # the tool backend that asks the planner's model about the image


@dataclass
class Toolbox:
    """Everything the nodes call. ``segmentation`` is built on first use (SAM weights are large)."""

    planner: Planner
    entailment: EntailmentTool
    grounding: GroundingTool
    segmentation_factory: Callable[[], SegmentationTool]
    answer_style: AnswerStyle = "full"  # how the planner's prompt asks it to answer (agent/contract.py)
    _segmentation: SegmentationTool | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    load_image: Callable[[Path], Image.Image] = field(
        default_factory=lambda: functools.lru_cache(maxsize=IMAGE_CACHE_SIZE)(load_image))

    @property
    def segmentation(self) -> SegmentationTool:
        with self._lock:
            if self._segmentation is None:
                self._segmentation = self.segmentation_factory()
            return self._segmentation


def _refuse_mllm_tools(settings: Settings, planner_name: str, reason: str) -> None:
    """Raise when the active profile has an ``mllm`` tool that a planner without image questions cannot serve."""
    profile = settings.active
    for kind, tool in (("entailment", profile.entailment), ("grounding", profile.grounding)):
        if tool.backend == ASKS_THE_PLANNER:
            raise ToolSetupError(
                f"profile {settings.profile!r}: {kind} backend 'mllm' asks the planner about the image, and planner "
                f"{planner_name} {reason}; use planner backend 'transformers' or 'vllm-server' with a vision-language "
                f"model, or another {kind} backend ({', '.join(b for b in (ENTAILMENT_BACKENDS if kind == 'entailment' else GROUNDING_BACKENDS) if b != ASKS_THE_PLANNER)})")


def _check_planner(settings: Settings, planner: Any, planner_name: str) -> VisualQuestionAnswerer | None:
    """The planner as the MLLM tools' answerer (``None`` when it cannot answer), after the capability checks."""
    if not isinstance(planner, Planner):
        raise ToolSetupError(f"planner {planner_name} is not a planner: it needs bind_tools() and multimodal")
    if not planner.multimodal:
        _refuse_mllm_tools(settings, planner_name, "is text-only")
        return None
    if not isinstance(planner, VisualQuestionAnswerer):
        _refuse_mllm_tools(settings, planner_name, "cannot answer questions about images (no yes_probability/ask_box)")
        return None
    return planner


def _build(registry: dict[str, Callable[..., Any]], kind: str, settings: ToolSettings,
           answerer: VisualQuestionAnswerer | None, question_for: Callable[[Entity], str] | None,
           is_person: Callable[[str], bool]) -> Any:
    if settings.backend not in registry:
        raise ToolSetupError(f"unknown {kind} backend {settings.backend!r}; backends: {', '.join(registry)}")
    return registry[settings.backend](model=settings.model, checkpoint=settings.checkpoint,
                                      threshold=settings.threshold, answerer=answerer, question_for=question_for,
                                      is_person=is_person)


def build_toolbox(settings: Settings, planner: Planner | None = None) -> Toolbox:
    """The active profile's planner (or the one given, e.g. a scripted model in tests) and its tools.

    Raises ``ToolSetupError`` for a profile that cannot work (see the module docstring)."""
    profile = settings.active
    if planner is None:
        backend = profile.planner.backend
        if not PLANNER_BACKENDS[backend].answers_image_questions:
            _refuse_mllm_tools(settings, f"backend {backend!r}", "does not answer questions about images (it plans only)")
        planner = build_planner(profile.planner, settings.cache_dir)
        planner_name = f"backend {backend!r} ({profile.planner.model})"
    else:
        planner_name = type(planner).__name__
    answerer = _check_planner(settings, planner, planner_name)
    is_person = person_type_names().__contains__
    return Toolbox(
        planner=planner,
        answer_style=resolve_answer_style(profile.planner.answer_style, planner.multimodal),
        entailment=_build(ENTAILMENT_BACKENDS, "entailment", profile.entailment, answerer, entailment_question, is_person),
        grounding=_build(GROUNDING_BACKENDS, "grounding", profile.grounding, answerer, grounding_question, is_person),
        segmentation_factory=lambda: _build(SEGMENTATION_BACKENDS, "segmentation", profile.segmentation, answerer,
                                            None, is_person),
    )
