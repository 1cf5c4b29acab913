"""Gold posts in the project's own JSONL format (``--dataset jsonl``): one post a line, as ``groundex dump-gold``
writes them, so a dump reads back and a user's file needs no other layout::

    {"id": "p1", "text": "Messi joins Inter Miami", "image": "images/p1.jpg",
     "triples": [{"start": 0, "end": 5, "type": "PER", "text": "Messi", "box": [10, 20, 200, 380]},
                 {"start": 12, "end": 23, "type": "ORG"}]}

``start``/``end`` are character offsets into ``text`` (end exclusive); a triple's ``text``, where given, must equal
``text[start:end]``. ``box`` (pixels ``[x1, y1, x2, y2]``), ``boxes`` (several) and ``mask`` (COCO RLE) are the
mention's regions; none means ungroundable. ``image`` (optional) is a path relative to the file's folder, or
absolute: posts with one are scored for GMNER and EEG as the Twitter data are. ``description``, ``score`` and
``visible`` (written by ``dump-gold`` and prediction files) are accepted and ignored. Unknown keys are errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, ConfigDict, ValidationError

from groundex.agent import AnnotatedPost, Box, Entity, GoldTriple, Mask, Post, SchemaError
from groundex.eval.datasets.errors import DatasetFormatError, read_text_file


class _MaskRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: tuple[int, int]
    counts: str | list[int]


class _GoldTripleRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: int
    end: int
    type: str
    text: str | None = None
    box: tuple[float, float, float, float] | None = None
    boxes: list[tuple[float, float, float, float]] | None = None
    mask: _MaskRecord | None = None
    description: str = ""
    score: float | None = None
    visible: bool | None = None


class _GoldPostRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    text: str
    triples: list[_GoldTripleRecord] = []
    image: str | None = None


def _problem(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def _gold_triple(record: _GoldTripleRecord, index: int, post: Post) -> GoldTriple:
    if not 0 <= record.start < record.end <= len(post.text):
        raise SchemaError(f"triples.{index}: span [{record.start}, {record.end}) is outside the text "
                          f"(length {len(post.text)})")
    found = post.text[record.start:record.end]
    if record.text is not None and record.text != found:
        raise SchemaError(f"triples.{index}: text {record.text!r} is not the post's text at [{record.start}, "
                          f"{record.end}) ({found!r})")
    boxes = [Box(*record.box)] if record.box is not None else []
    boxes += [Box(*box) for box in record.boxes or ()]
    masks = (Mask.from_coco(record.mask.size, record.mask.counts),) if record.mask is not None else ()
    return GoldTriple(Entity(found, record.start, record.end, record.type), tuple(boxes), masks)


def read_jsonl_gold(path: Path, image_dir: Path | None = None,
                    known_labels: frozenset[str] | None = None) -> Iterator[AnnotatedPost]:
    """The posts of a JSONL gold file. ``image_dir``: where a post without an ``image`` key looks for
    ``<id>.jpg`` (or another common suffix). ``known_labels``: as for ``read_plain_conll``."""
    from groundex.eval.datasets.twitter import find_image

    text = read_text_file(path)
    seen: dict[str, int] = {}
    posts = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = _GoldPostRecord.model_validate(json.loads(line))
        except json.JSONDecodeError as error:
            raise DatasetFormatError(path, f"not valid JSON ({error.msg})", number) from error
        except ValidationError as error:
            raise DatasetFormatError(path, _problem(error), number) from error
        if record.id in seen:
            raise DatasetFormatError(path, f"post id {record.id!r} is used twice (first on line {seen[record.id]})",
                                     number)
        seen[record.id] = number
        image = None
        if record.image is not None:
            image = Path(record.image) if Path(record.image).is_absolute() else path.parent / record.image
            if not image.is_file():
                raise DatasetFormatError(path, f"image {record.image!r} of post {record.id!r} does not exist ({image})",
                                         number)
        else:
            image = find_image(image_dir, record.id)
        try:
            post = Post(id=record.id, text=record.text, image_path=image)
            gold = tuple(_gold_triple(triple, index, post) for index, triple in enumerate(record.triples))
        except SchemaError as error:
            raise DatasetFormatError(path, str(error), number) from error
        for triple in gold:
            if known_labels is not None and triple.entity.type not in known_labels:
                raise DatasetFormatError(path, f"type {triple.entity.type!r} is not in the types "
                                               f"({', '.join(sorted(known_labels))}): add it to types.toml, or give "
                                               "--types to score only some types", number)
        posts += 1
        yield AnnotatedPost(post=post, gold=tuple(sorted(gold, key=lambda g: (g.entity.start, g.entity.end))))
    if not posts:
        raise DatasetFormatError(path, "holds no posts (an empty file)")
