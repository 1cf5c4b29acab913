"""SMNER (Twitter-GMNER text and boxes + segmentation masks): a reader for per-image mask files.

Layout: the GMNER files plus ``masks/<post id>.json`` beside the split file::

    {"height": 480, "width": 640,
     "objects": [{"name": "Lionel Messi", "segmentation": {"size": [480, 640], "counts": "<COCO RLE>"}},
                 {"name": "Barcelona", "segmentation": [[x1, y1, x2, y2, x3, y3, ...], ...]}]}

``name`` is the entity string (tokens joined by single spaces), as in the VOC files; ``segmentation`` is a
COCO RLE (compressed or uncompressed) or a list of polygons in pixels of the original image. A mention gets
every mask whose name equals its text. RiVEG's SMNER release must be converted to this layout once.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np

from groundex.agent import AnnotatedPost, Mask, SchemaError
from groundex.eval.datasets.errors import DatasetFormatError
from groundex.eval.datasets.twitter import read_twitter_gmner


def read_mask_file(path: Path) -> dict[str, tuple[Mask, ...]]:
    """Masks of one image by entity name."""
    from pycocotools import mask as coco_mask

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        height, width = int(document["height"]), int(document["width"])
        objects = document["objects"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DatasetFormatError(path, f"expected {{height, width, objects: [{{name, segmentation}}]}} ({error})") from error
    masks: dict[str, list[Mask]] = {}
    for index, item in enumerate(objects):
        try:
            name, segmentation = str(item["name"]), item["segmentation"]
            if isinstance(segmentation, dict):
                mask = Mask.from_coco(segmentation["size"], segmentation["counts"])
            else:
                polygons = [list(map(float, polygon)) for polygon in segmentation]
                if not polygons or any(len(p) < 6 or len(p) % 2 for p in polygons):
                    raise ValueError("polygons need at least 3 (x, y) points each")
                merged = coco_mask.merge(coco_mask.frPyObjects(polygons, height, width))
                mask = Mask.from_array(coco_mask.decode(merged).astype(np.uint8) > 0)
        except (KeyError, TypeError, ValueError, SchemaError) as error:
            raise DatasetFormatError(path, f"objects[{index}]: {error}") from error
        if mask.size != (height, width):
            raise DatasetFormatError(path, f"objects[{index}]: mask size {list(mask.size)} is not {[height, width]}")
        masks.setdefault(name, []).append(mask)
    return {name: tuple(found) for name, found in masks.items()}


def read_twitter_smner(path: Path, xml_dir: Path, image_dir: Path | None = None) -> Iterator[AnnotatedPost]:
    mask_dir = path.parent / "masks"
    if not mask_dir.is_dir():
        raise DatasetFormatError(mask_dir, "SMNER needs the mask folder masks/<id>.json beside the split file")
    for annotated in read_twitter_gmner(path, xml_dir, image_dir):
        mask_file = mask_dir / f"{annotated.post.id}.json"
        if not mask_file.is_file():
            yield annotated
            continue
        masks = read_mask_file(mask_file)
        yield replace(annotated, gold=tuple(replace(g, masks=masks.get(g.entity.text, ())) for g in annotated.gold))
