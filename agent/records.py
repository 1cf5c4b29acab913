"""The prediction record: one JSON object per post, the format of prediction files and of ``extract`` output.

    {"id": "<post id>",
     "triples": [{"text": "Messi", "start": 0, "end": 5, "type": "PER",
                  "box": [x1, y1, x2, y2] | null,      # pixels of the original image
                  "mask": {"size": [h, w], "counts": "<COCO RLE>"} | null,
                  "score": 0.9 | null}]}

``start``/``end`` are character offsets into the post text, end exclusive. Parsing validates with pydantic and
ends in ``groundex.agent.schema`` types; ``encode_prediction`` is its inverse.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from groundex.agent.errors import GroundexError
from groundex.agent.schema import Box, Entity, Mask, Prediction, SchemaError, Triple


class RecordError(GroundexError):
    """A prediction record that does not follow the format."""


class _MaskRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: tuple[int, int]
    counts: str | list[int]


class _TripleRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    start: int
    end: int
    type: str
    description: str = ""
    box: tuple[float, float, float, float] | None = None
    mask: _MaskRecord | None = None
    score: float | None = None
    visible: bool | None = None


class _PredictionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    triples: list[_TripleRecord]
    text: str | None = None  # the post's text and image, which gold dumps carry (eval.datasets.jsonl); not read here
    image: str | None = None


def _pydantic_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def decode_prediction(obj: Any) -> Prediction:
    """A parsed JSON object -> ``Prediction``. Raises ``RecordError`` saying which field is wrong."""
    try:
        record = _PredictionRecord.model_validate(obj)
    except ValidationError as error:
        raise RecordError(_pydantic_problem(error)) from error
    triples = []
    for index, item in enumerate(record.triples):
        try:
            entity = Entity(item.text, item.start, item.end, item.type, item.description)
            box = Box(*item.box) if item.box is not None else None
            mask = Mask.from_coco(item.mask.size, item.mask.counts) if item.mask is not None else None
            triples.append(Triple(entity, box, mask, item.score, item.visible))
        except SchemaError as error:
            raise RecordError(f"triples.{index}: {error}") from error
    return Prediction(post_id=record.id, triples=tuple(triples))


def encode_prediction(prediction: Prediction) -> dict[str, Any]:
    """``Prediction`` -> a JSON-ready dict in the record format."""
    triples = []
    for triple in prediction.triples:
        item: dict[str, Any] = {
            "text": triple.entity.text,
            "start": triple.entity.start,
            "end": triple.entity.end,
            "type": triple.entity.type,
        }
        if triple.entity.description:
            item["description"] = triple.entity.description
        item["box"] = triple.box.as_list() if triple.box else None
        item["mask"] = {"size": list(triple.mask.size), "counts": triple.mask.counts} if triple.mask else None
        item["score"] = triple.score
        if triple.visible is not None:
            item["visible"] = triple.visible
        triples.append(item)
    return {"id": prediction.post_id, "triples": triples}
