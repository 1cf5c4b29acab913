"""Prediction files: JSONL, one ``groundex.agent.records`` object per line.

Reading checks every line and, given the dataset's posts, that each triple's text stands at its offsets;
errors name the file and line. Appending writes whole lines and flushes, so a killed writer leaves at most
one unterminated last line, which ``read_predictions(..., allow_partial_tail=True)`` skips.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Mapping

from groundex.agent import (AnnotatedPost, GroundexError, Post, Prediction, RecordError, Triple, decode_prediction,
                            encode_prediction)


class PredictionFileError(GroundexError):
    """A prediction file that is missing or malformed."""


def read_predictions(
    path: Path, posts: Mapping[str, Post] | None = None, allow_partial_tail: bool = False
) -> list[Prediction]:
    """All predictions in ``path``, in file order.

    With ``posts``, a triple of a known post whose ``text`` differs from the post text at its offsets is an
    error; predictions for ids not in ``posts`` are kept (the scorer counts them as false positives). A post id
    that occurs on two lines is an error.
    """
    if not path.is_file():
        raise PredictionFileError(f"prediction file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if allow_partial_tail and not text.endswith("\n"):
        lines = lines[:-1]  # a writer killed mid-line: the unterminated tail was never a whole record
    predictions: list[Prediction] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            prediction = decode_prediction(json.loads(line))
        except json.JSONDecodeError as error:
            raise PredictionFileError(f"{path}:{number}: not valid JSON ({error.msg})") from error
        except RecordError as error:
            raise PredictionFileError(f"{path}:{number}: {error}") from error
        if prediction.post_id in seen:
            raise PredictionFileError(
                f"{path}:{number}: post {prediction.post_id} already has predictions on line {seen[prediction.post_id]}"
            )
        seen[prediction.post_id] = number
        post = posts.get(prediction.post_id) if posts is not None else None
        if post is not None:
            for triple in prediction.triples:
                if not triple.entity.matches(post.text):
                    found = post.text[triple.entity.start : triple.entity.end]
                    raise PredictionFileError(
                        f"{path}:{number}: triple {triple.entity.text!r} at [{triple.entity.start}, "
                        f"{triple.entity.end}) does not match the post text there ({found!r})"
                    )
        predictions.append(prediction)
    return predictions


def prediction_line(prediction: Prediction) -> str:
    """One JSONL line (no newline)."""
    return json.dumps(encode_prediction(prediction), ensure_ascii=False)


def write_predictions(path: Path, predictions: Iterable[Prediction]) -> int:
    """Write a whole prediction file; returns the number of lines."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(prediction_line(prediction) + "\n")
            count += 1
    return count


def write_gold(path: Path, posts: Iterable[AnnotatedPost]) -> int:
    """Write gold posts as JSONL in the prediction format plus each post's ``text`` and, where it has one, its
    ``image`` (absolute): a prediction file that is also a ``--dataset jsonl`` gold file (``eval.datasets.jsonl``).
    A mention's first box (and mask) stands for it. Returns the number of lines."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for annotated in posts:
            post = annotated.post
            triples = tuple(Triple(g.entity, g.boxes[0] if g.boxes else None, g.masks[0] if g.masks else None, None,
                                   g.groundable) for g in annotated.gold)
            record = {"id": post.id, "text": post.text,
                      **({"image": str(post.image_path.resolve())} if post.image_path else {}),
                      "triples": encode_prediction(Prediction(post.id, triples))["triples"]}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
