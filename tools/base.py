"""The three tool interfaces, and the question-answering interface the MLLM-backed tools ask through.

Coordinates: every ``Box`` a tool takes or returns is in pixels of the original image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from PIL import Image

from groundex.agent.errors import GroundexError
from groundex.agent.schema import Box, Entity, Mask


class ToolSetupError(GroundexError):
    """A tool backend that cannot be built: unknown name, missing weights, missing package."""


@dataclass(frozen=True)
class Visibility:
    """Whether an entity is visible in the image: the decision and the probability behind it (in [0, 1])."""

    visible: bool
    probability: float


@dataclass(frozen=True)
class Grounding:
    """A box for an entity (original pixels) with the backend's confidence in [0, 1] where it has one."""

    box: Box
    score: float | None = None


@runtime_checkable
class VisualQuestionAnswerer(Protocol):
    """What a multimodal planner backend offers the MLLM tools (implemented in ``groundex.agent.backends``).

    Runtime-checkable: ``build_toolbox`` tests a planner with ``isinstance`` before it builds an MLLM tool.
    """

    def yes_probability(self, image: Image.Image, question: str) -> float:
        """P("yes") as the answer to a yes/no question about the image, in [0, 1]."""

    def ask_box(self, image: Image.Image, question: str) -> Box | None:
        """The box the model answers, converted to original-image pixels; ``None`` if it gave none."""


class EntailmentTool(Protocol):
    def visibility(self, image: Image.Image, entity: Entity) -> Visibility:
        """Decide whether ``entity`` (its ``description`` says what to look for) is visible in ``image``."""


class GroundingTool(Protocol):
    def locate(self, image: Image.Image, entity: Entity) -> Grounding | None:
        """The entity's box in ``image``, or ``None`` when the backend finds nothing."""


class SegmentationTool(Protocol):
    def segment(self, image: Image.Image, image_key: str, boxes: Sequence[Box]) -> list[Mask]:
        """One mask per box (box-prompted), over the whole image.

        ``image_key`` identifies the image (e.g. its path): per-image work such as an image embedding is
        computed once per key and reused for every box and every later call with that key.
        """
