"""The planner and tools a graph run uses, built once from a profile and passed as the graph's context."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from langchain_core.language_models import BaseChatModel
from PIL import Image

from groundex.agent.backends.registry import build_planner
from groundex.agent.config import Settings, ToolSettings
from groundex.agent.contract import AnswerStyle, resolve_answer_style
from groundex.agent.schema import Entity
from groundex.agent.type_presets import person_type_names
from groundex.prompts import render_prompt
from groundex.tools.base import EntailmentTool, GroundingTool, SegmentationTool, ToolSetupError
from groundex.tools.entailment import ENTAILMENT_BACKENDS
from groundex.tools.grounding import GROUNDING_BACKENDS
from groundex.tools.images import load_image
from groundex.tools.segmentation import SEGMENTATION_BACKENDS

IMAGE_CACHE_SIZE = 16


def entailment_question(entity: Entity) -> str:
    return render_prompt("entailment", description=entity.description or entity.text)


def grounding_question(entity: Entity) -> str:
    return render_prompt("grounding", description=entity.description or entity.text)


@dataclass
class Toolbox:
    """Everything the nodes call. ``segmentation`` is built on first use (SAM weights are large)."""

    planner: BaseChatModel
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


def _build(registry: dict[str, Callable[..., Any]], kind: str, settings: ToolSettings, planner: BaseChatModel,
           question_for: Callable[[Entity], str] | None, is_person: Callable[[str], bool]) -> Any:
    if settings.backend not in registry:
        raise ToolSetupError(f"unknown {kind} backend {settings.backend!r}; backends: {', '.join(registry)}")
    answerer = planner if getattr(planner, "multimodal", False) else None
    return registry[settings.backend](model=settings.model, checkpoint=settings.checkpoint,
                                      threshold=settings.threshold, answerer=answerer, question_for=question_for,
                                      is_person=is_person)


def build_toolbox(settings: Settings, planner: BaseChatModel | None = None) -> Toolbox:
    """The active profile's planner (or the one given, e.g. a scripted model in tests) and its tools."""
    profile = settings.active
    planner = planner if planner is not None else build_planner(profile.planner, settings.cache_dir)
    is_person = person_type_names().__contains__
    return Toolbox(
        planner=planner,
        answer_style=resolve_answer_style(profile.planner.answer_style, getattr(planner, "multimodal", False)),
        entailment=_build(ENTAILMENT_BACKENDS, "entailment", profile.entailment, planner, entailment_question, is_person),
        grounding=_build(GROUNDING_BACKENDS, "grounding", profile.grounding, planner, grounding_question, is_person),
        segmentation_factory=lambda: _build(SEGMENTATION_BACKENDS, "segmentation", profile.segmentation, planner, None,
                                            is_person),
    )
