"""Prediction files round-trip and every malformed line is reported with its line number."""

from __future__ import annotations

import json

import numpy as np
import pytest

from groundex.agent.schema import Box, Entity, Mask, Post, Prediction, Triple
from groundex.eval.predictions import PredictionFileError, read_predictions, write_predictions

POSTS = {"p1": Post("p1", "Messi in Madrid")}


def test_round_trip_keeps_every_field(tmp_path):
    array = np.zeros((10, 10), dtype=bool)
    array[2:5, 2:5] = True
    prediction = Prediction("p1", (
        Triple(Entity("Messi", 0, 5, "PER", "the footballer"), Box(1, 2, 3.5, 4), Mask.from_array(array), 0.75),
        Triple(Entity("Madrid", 9, 15, "LOC")),
    ))
    path = tmp_path / "preds.jsonl"
    write_predictions(path, [prediction])
    assert read_predictions(path, POSTS) == [prediction]


def _write(tmp_path, *records):
    path = tmp_path / "preds.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def _triple(**changes):
    triple = {"text": "Messi", "start": 0, "end": 5, "type": "PER", "box": None, "mask": None, "score": None}
    return {**triple, **changes}


@pytest.mark.parametrize(
    "bad,message",
    [
        ("{not json", "preds.jsonl:2: not valid JSON"),
        ({"id": "p1"}, "preds.jsonl:2: triples"),
        ({"id": "p1", "triples": [_triple(start=1)]}, "preds.jsonl:2: .*length"),
        ({"id": "p1", "triples": [_triple(text="Messy")]}, "preds.jsonl:2: .*does not match the post text"),
        ({"id": "p1", "triples": [_triple(box=[5, 5, 1, 1])]}, "preds.jsonl:2: .*degenerate"),
        ({"id": "p1", "triples": [_triple(box=[1, 2, 3])]}, "preds.jsonl:2: triples.0.box"),
        ({"id": "p1", "triples": [_triple(colour="red")]}, "preds.jsonl:2: triples.0.colour"),
        ({"id": "p1", "triples": [_triple(score=2.0)]}, "preds.jsonl:2: .*score"),
    ],
)
def test_malformed_lines_are_reported_with_file_and_line(tmp_path, bad, message):
    path = _write(tmp_path, {"id": "p0", "triples": []}, bad)
    with pytest.raises(PredictionFileError, match=message):
        read_predictions(path, POSTS)


def test_a_post_on_two_lines_is_an_error(tmp_path):
    path = _write(tmp_path, {"id": "p1", "triples": []}, {"id": "p1", "triples": []})
    with pytest.raises(PredictionFileError, match="already has predictions on line 1"):
        read_predictions(path, POSTS)


def test_unknown_post_ids_are_kept_for_the_scorer(tmp_path):
    path = _write(tmp_path, {"id": "elsewhere", "triples": [_triple()]})
    assert [p.post_id for p in read_predictions(path, POSTS)] == ["elsewhere"]


def test_an_unterminated_last_line_is_skipped_only_when_allowed(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text(json.dumps({"id": "p1", "triples": []}) + "\n" + '{"id": "p2", "tri')
    with pytest.raises(PredictionFileError, match=":2: not valid JSON"):
        read_predictions(path)
    assert [p.post_id for p in read_predictions(path, allow_partial_tail=True)] == ["p1"]


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(PredictionFileError, match="does not exist"):
        read_predictions(tmp_path / "none.jsonl")
