"""groundex: grounded multimodal named entity recognition for social-media posts.

The Python API in one call::

    import groundex

    result = groundex.extract("examples/images/astronaut.png", "Lionel Messi and Neymar celebrate at Camp Nou",
                              types="gmner", profile="cpu")
    for triple in result.prediction.triples:
        print(triple.entity.text, triple.entity.type, triple.box)  # box: original-image pixels (x1, y1, x2, y2)

``extract`` builds the profile's planner and tools once and keeps them in an explicit cache (``extractor_for``;
``extractor_for.cache_clear()`` frees them). For chat threads, benchmark runs and more control, use
``groundex.Extractor`` (``groundex.agent``), ``groundex.eval.benchmark.run_benchmark`` and the CLI.
Boxes are in pixels of the image as viewers show it (an EXIF orientation is applied when the image loads).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from groundex.agent import GroundexError, Post, Prediction, Triple, TypeSchema  # the data model: light imports

if TYPE_CHECKING:
    from groundex.agent import ExtractionOptions, ExtractionResult, Extractor  # noqa: F401

_FROM_AGENT = ("ExtractionOptions", "ExtractionResult", "Extractor")  # these load langgraph: on first use
__all__ = [*_FROM_AGENT, "GroundexError", "Post", "Prediction", "Triple", "TypeSchema", "extract", "extractor_for"]


def __getattr__(name: str) -> Any:
    if name in _FROM_AGENT:
        import groundex.agent

        return getattr(groundex.agent, name)
    raise AttributeError(f"module 'groundex' has no attribute {name!r}")


@lru_cache(maxsize=4)
def extractor_for(profile: str | None = None, config: Path | None = None) -> "Extractor":
    """The ``Extractor`` of a configuration profile (``None``: the configured default, ``cpu`` out of the box),
    built once per (profile, config file) and cached."""
    from groundex.agent import Extractor, load_settings

    return Extractor.from_settings(load_settings(config_file=config, profile=profile))


def _schema(types: str | TypeSchema | Sequence[str]) -> TypeSchema:
    from groundex.agent import load_type_schema

    if isinstance(types, TypeSchema):
        return types
    if isinstance(types, str):
        return load_type_schema(types)
    if isinstance(types, Sequence) and all(isinstance(name, str) for name in types):
        return load_type_schema(",".join(types))
    raise GroundexError(f"types must be a preset name, a type file, 'A,B,C', a list of names or a TypeSchema, "
                        f"not {type(types).__name__}")


def extract(image: str | Path | None, text: str, types: str | TypeSchema | Sequence[str] = "gmner",
            profile: str | None = None, masks: bool = False, config: str | Path | None = None,
            post_id: str | None = None) -> "ExtractionResult":
    """The grounded entities of one post: its ``image`` (a path, or ``None`` for text only) and ``text``.

    ``types``: a preset (``gmner``, ``fmnerg``, ...), a ``.toml`` / ``.txt`` type file, ``"A,B,C"``, a list of type
    names or a ``TypeSchema`` (types nobody trained on work too: zero-shot). ``masks`` adds a box-prompted mask per
    located entity. Raises ``GroundexError`` with a one-line reason for bad input (empty text, a missing or
    unreadable image, unknown types or profile), before any model loads.
    """
    from groundex.agent import ExtractionOptions
    from groundex.tools.images import load_image

    if not isinstance(text, str) or not text.strip():
        raise GroundexError("the post's text is empty")
    image_path = Path(image) if image is not None else None
    if image_path is not None:
        load_image(image_path)  # a missing or broken image is reported before the planner loads
    schema = _schema(types)
    extractor = extractor_for(profile, Path(config) if config is not None else None)
    post = Post(post_id or (image_path.stem if image_path else "post"), text.strip(), image_path=image_path)
    return extractor.extract(post, schema, ExtractionOptions(boxes=image_path is not None, masks=masks))
