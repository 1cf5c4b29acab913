"""The data model shared by every part of groundex.

Units, once for the whole project:
- Text positions are **character offsets** into ``Post.text``, end exclusive. Dataset posts are their tokens
  joined by single spaces, so token spans map one-to-one onto character spans.
- Boxes are ``(x1, y1, x2, y2)`` in **pixels of the original image**, continuous coordinates (a box covering
  pixel columns 0..9 is ``x1=0, x2=10``; no "+1" convention).
- Masks are COCO run-length encodings (the format of ``pycocotools.mask``) over the original image,
  ``size = (height, width)``.

Everything here is a frozen dataclass that validates itself on construction; parsing from files, model
output or HTTP happens at those edges and ends in these types.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from groundex.agent.errors import GroundexError


class SchemaError(GroundexError, ValueError):
    """A value that does not fit the data model (an empty span, a box with x2 <= x1, ...)."""


@dataclass(frozen=True)
class EntityType:
    """One entity type as the planner sees it.

    ``group`` is the coarse type a fine-grained type belongs to (FMNERG: ``athlete`` -> ``person``);
    ``None`` for flat schemas such as GMNER's four types.
    """

    name: str
    description: str
    group: str | None = None

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise SchemaError(f"entity type name {self.name!r} must be non-empty with no surrounding spaces")


@dataclass(frozen=True)
class TypeSchema:
    """An ordered set of entity types, the run-time input that decides what is extracted."""

    name: str
    types: tuple[EntityType, ...]

    def __post_init__(self) -> None:
        if not self.types:
            raise SchemaError(f"type schema {self.name!r} has no types")
        seen: set[str] = set()
        for entity_type in self.types:
            if entity_type.name in seen:
                raise SchemaError(f"type schema {self.name!r} lists type {entity_type.name!r} twice")
            seen.add(entity_type.name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    def __contains__(self, type_name: object) -> bool:
        return any(t.name == type_name for t in self.types)

    def __iter__(self) -> Iterator[EntityType]:
        return iter(self.types)

    def __len__(self) -> int:
        return len(self.types)

    def get(self, type_name: str) -> EntityType:
        for entity_type in self.types:
            if entity_type.name == type_name:
                return entity_type
        raise SchemaError(f"type {type_name!r} is not in schema {self.name!r} (types: {', '.join(self.names)})")

    def group_of(self, type_name: str) -> str:
        """The coarse group of a type; a type without a group is its own group."""
        entity_type = self.get(type_name)
        return entity_type.group or entity_type.name


@dataclass(frozen=True)
class ImageSize:
    """Size of the original image, in pixels."""

    width: int
    height: int

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise SchemaError(f"image size {self.width}x{self.height} must be positive")


@dataclass(frozen=True)
class Post:
    """A social-media post: its text and, where there is one, the path of its image.

    The image itself is never held here; it is loaded when a tool needs it (``groundex.tools.images``).
    ``tokens`` is set for dataset posts (``text == " ".join(tokens)``) and empty for free text.
    ``image_size`` is known for dataset posts that have box annotations, else ``None``. ``image_path`` may be
    given as a ``str`` (it is stored as a ``Path``).
    """

    id: str
    text: str
    image_path: Path | None = None
    tokens: tuple[str, ...] = ()
    image_size: ImageSize | None = None

    def __post_init__(self) -> None:
        if not self.id:
            raise SchemaError("a post needs a non-empty id")
        if not isinstance(self.text, str):
            raise SchemaError(f"post {self.id}: text must be a str, not {type(self.text).__name__}")
        if isinstance(self.image_path, str):
            if not self.image_path.strip():
                raise SchemaError(f"post {self.id}: image_path is an empty string (give None for a post without image)")
            object.__setattr__(self, "image_path", Path(self.image_path))
        elif self.image_path is not None and not isinstance(self.image_path, Path):
            raise SchemaError(f"post {self.id}: image_path must be a path or None, not {type(self.image_path).__name__}")
        if isinstance(self.tokens, list):
            object.__setattr__(self, "tokens", tuple(self.tokens))
        if self.tokens and " ".join(self.tokens) != self.text:
            raise SchemaError(f"post {self.id}: text is not its tokens joined by single spaces")

    def token_offsets(self) -> list[tuple[int, int]]:
        """Character ``(start, end)`` of each token in ``text``."""
        offsets, position = [], 0
        for token in self.tokens:
            offsets.append((position, position + len(token)))
            position += len(token) + 1
        return offsets


@dataclass(frozen=True)
class Entity:
    """A typed mention in a post: ``text == post.text[start:end]`` (character offsets, end exclusive).

    ``description`` is the short referring expression the planner writes for grounding ("Lionel Messi, the
    footballer in the red shirt"); empty for gold annotations.
    """

    text: str
    start: int
    end: int
    type: str
    description: str = ""

    def __post_init__(self) -> None:
        if self.start < 0 or self.end <= self.start:
            raise SchemaError(f"entity {self.text!r}: span [{self.start}, {self.end}) is empty or negative")
        if len(self.text) != self.end - self.start:
            raise SchemaError(
                f"entity {self.text!r}: span [{self.start}, {self.end}) has length {self.end - self.start}, "
                f"the text has length {len(self.text)}"
            )
        if not self.type:
            raise SchemaError(f"entity {self.text!r} has no type")

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    def matches(self, post_text: str) -> bool:
        """Whether this entity's text really stands at its offsets in ``post_text``."""
        return post_text[self.start : self.end] == self.text


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels of the original image, continuous coordinates, ``x1 < x2``, ``y1 < y2``."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        coordinates = (self.x1, self.y1, self.x2, self.y2)
        if not all(isinstance(c, numbers.Real) and math.isfinite(c) for c in coordinates):
            raise SchemaError(f"box {list(coordinates)} has a non-finite or non-numeric coordinate")
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise SchemaError(f"box {list(coordinates)} is degenerate: needs x1 < x2 and y1 < y2")

    @property
    def area(self) -> float:
        return (self.x2 - self.x1) * (self.y2 - self.y1)

    def as_list(self) -> list[float]:
        return [self.x1, self.y1, self.x2, self.y2]

    def iou(self, other: Box) -> float:
        """Intersection over union, in [0, 1]."""
        width = min(self.x2, other.x2) - max(self.x1, other.x1)
        height = min(self.y2, other.y2) - max(self.y1, other.y1)
        if width <= 0 or height <= 0:
            return 0.0
        intersection = width * height
        return intersection / (self.area + other.area - intersection)

    def clip(self, size: ImageSize) -> Box | None:
        """This box cut to the image; ``None`` when nothing of it lies inside."""
        x1, y1 = max(0.0, float(self.x1)), max(0.0, float(self.y1))
        x2, y2 = min(float(size.width), float(self.x2)), min(float(size.height), float(self.y2))
        if x2 <= x1 or y2 <= y1:
            return None
        return Box(x1, y1, x2, y2)


@dataclass(frozen=True)
class Mask:
    """A binary mask as a compressed COCO RLE over the original image; ``size = (height, width)`` in pixels."""

    size: tuple[int, int]
    counts: str

    def __post_init__(self) -> None:
        height, width = self.size
        if height <= 0 or width <= 0:
            raise SchemaError(f"mask size {list(self.size)} must be positive (height, width)")
        if not self.counts:
            raise SchemaError("mask has empty RLE counts")

    @classmethod
    def from_array(cls, array: np.ndarray) -> Mask:
        """Encode a boolean ``H x W`` array."""
        from pycocotools import mask as coco_mask

        if array.ndim != 2:
            raise SchemaError(f"a mask array must be 2-D (H x W), got shape {array.shape}")
        rle = coco_mask.encode(np.asfortranarray(array.astype(np.uint8)))
        return cls(size=(int(rle["size"][0]), int(rle["size"][1])), counts=rle["counts"].decode("ascii"))

    @classmethod
    def from_coco(cls, size: list[int] | tuple[int, int], counts: str | list[int]) -> Mask:
        """From a COCO RLE whose counts are compressed (a string) or uncompressed (a list of run lengths)."""
        from pycocotools import mask as coco_mask

        height, width = int(size[0]), int(size[1])
        if isinstance(counts, list):
            if sum(counts) != height * width:
                raise SchemaError(f"uncompressed RLE covers {sum(counts)} pixels, size says {height * width}")
            rle = coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)
            return cls(size=(height, width), counts=rle["counts"].decode("ascii"))
        return cls(size=(height, width), counts=counts)

    def _rle(self) -> dict:
        return {"size": [self.size[0], self.size[1]], "counts": self.counts.encode("ascii")}

    def to_array(self) -> np.ndarray:
        """The mask as a boolean ``H x W`` array."""
        from pycocotools import mask as coco_mask

        return coco_mask.decode(self._rle()).astype(bool)

    @property
    def area(self) -> int:
        """Foreground pixels."""
        from pycocotools import mask as coco_mask

        return int(coco_mask.area(self._rle()))

    def iou(self, other: Mask) -> float:
        """Mask intersection over union, in [0, 1]; masks of different image sizes never overlap."""
        from pycocotools import mask as coco_mask

        if self.size != other.size:
            raise SchemaError(f"cannot compare masks of sizes {list(self.size)} and {list(other.size)}")
        return float(coco_mask.iou([self._rle()], [other._rle()], [0])[0][0])


@dataclass(frozen=True)
class Triple:
    """One extracted entity and its region: the unit of every prediction.

    ``box`` and ``mask`` are ``None`` when the entity is judged not visible in the image. ``score`` is the
    system's confidence in [0, 1] where it has one. ``visible`` is the system's groundable / not-groundable
    decision (the planner's locate call, confirmed by entailment when the image was seen); ``None`` when the
    system made none (gold dumps, older prediction files).
    """

    entity: Entity
    box: Box | None = None
    mask: Mask | None = None
    score: float | None = None
    visible: bool | None = None

    def __post_init__(self) -> None:
        if self.score is not None and not (math.isfinite(self.score) and 0.0 <= self.score <= 1.0):
            raise SchemaError(f"triple {self.entity.text!r}: score {self.score} is not in [0, 1]")


@dataclass(frozen=True)
class GoldTriple:
    """A gold mention with all its annotated regions.

    A mention may have several boxes (a band, a team); any of them counts as a correct region. ``boxes`` is
    empty for an ungroundable mention (not visible in the image). ``masks`` is set only by mask-annotated data
    (SMNER).
    """

    entity: Entity
    boxes: tuple[Box, ...] = ()
    masks: tuple[Mask, ...] = ()

    @property
    def groundable(self) -> bool:
        return bool(self.boxes) or bool(self.masks)


@dataclass(frozen=True)
class AnnotatedPost:
    """A dataset post with its gold mentions, in text order."""

    post: Post
    gold: tuple[GoldTriple, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Prediction:
    """All triples predicted for one post (one line of a prediction file)."""

    post_id: str
    triples: tuple[Triple, ...] = ()
