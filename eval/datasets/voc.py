"""Pascal-VOC box files as Twitter-GMNER ships them: ``xml/<post id>.xml``, one ``<object>`` per box.

Each object's ``<name>`` is the entity's surface string (its tokens joined by single spaces); ``<bndbox>``
gives ``xmin ymin xmax ymax`` in pixels of the original image, which we read as continuous coordinates.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from groundex.agent import Box, ImageSize, SchemaError
from groundex.eval.datasets.errors import DatasetFormatError


@dataclass(frozen=True)
class BoxFile:
    """The boxes of one image, by entity surface string, and the image size the file states."""

    image_size: ImageSize
    boxes_by_name: dict[str, tuple[Box, ...]] = field(default_factory=dict)


def _number(element: ElementTree.Element, tag: str, path: Path) -> float:
    child = element.find(tag)
    if child is None or child.text is None:
        raise DatasetFormatError(path, f"<{element.tag}> has no <{tag}>")
    try:
        return float(child.text.strip())
    except ValueError as error:
        raise DatasetFormatError(path, f"<{tag}> is not a number: {child.text!r}") from error


def read_box_file(path: Path) -> BoxFile:
    """Parse one VOC file. Raises ``DatasetFormatError`` naming the file when it is malformed."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise DatasetFormatError(path, f"not well-formed XML ({error})") from error
    size = root.find("size")
    if size is None:
        raise DatasetFormatError(path, "no <size> element")
    try:
        image_size = ImageSize(int(_number(size, "width", path)), int(_number(size, "height", path)))
    except SchemaError as error:
        raise DatasetFormatError(path, str(error)) from error
    boxes: dict[str, list[Box]] = {}
    for obj in root.iter("object"):
        name = obj.findtext("name")
        bndbox = obj.find("bndbox")
        if not name or bndbox is None:
            raise DatasetFormatError(path, "an <object> lacks <name> or <bndbox>")
        try:
            box = Box(*(_number(bndbox, tag, path) for tag in ("xmin", "ymin", "xmax", "ymax")))
        except SchemaError as error:
            raise DatasetFormatError(path, f"object {name!r}: {error}") from error
        boxes.setdefault(name.strip(), []).append(box)
    return BoxFile(image_size, {name: tuple(found) for name, found in boxes.items()})
