"""Running a benchmark split through the extractor: resumable, concurrent, one flushed line per post.

``predictions.jsonl`` is append-only. Each finished post is written as one whole line, flushed and fsynced, so
a run killed at any moment (even ``kill -9``) loses only the posts in flight. On start, an unterminated last
line (a write cut off mid-way) is cut away, and the posts already in the file are skipped. Posts are never
written twice: a post id is written only when not yet in the file.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

from groundex.agent import (AnnotatedPost, ExtractionOptions, GroundexError, Post, Prediction, TypeSchema,
                            encode_prediction)
from groundex.eval.predictions import read_predictions
from groundex.tools.images import ImageLoadError

if TYPE_CHECKING:
    from groundex.agent import ExtractionResult


class AsyncExtractor(Protocol):
    async def aextract(self, post: Post, types: TypeSchema, options: ExtractionOptions = ...): ...


def repair_tail(path: Path) -> int:
    """Cut an unterminated last line from ``path``; returns the number of bytes removed."""
    if not path.is_file():
        return 0
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return 0
    keep = data.rfind(b"\n") + 1
    with path.open("r+b") as handle:
        handle.truncate(keep)
    return len(data) - keep


class PredictionLog:
    """The run's predictions file: what is done, and appending whole lines."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = repair_tail(path)
        self.existing: list[Prediction] = read_predictions(path) if path.is_file() else []
        self.done = {prediction.post_id for prediction in self.existing}
        self._handle = path.open("a", encoding="utf-8")

    def append(self, prediction: Prediction) -> None:
        if prediction.post_id in self.done:
            return
        self._handle.write(json.dumps(encode_prediction(prediction), ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.done.add(prediction.post_id)

    def close(self) -> None:
        self._handle.close()


@dataclass(frozen=True)
class RunStats:
    """What a run did: posts run now, posts found done, posts run text-only, warnings raised, and the posts whose
    extraction failed (not written: the same command retries them), as ``(post id, error in one line)``."""

    ran: int
    already_done: int
    text_only: int
    warnings: int
    failed: tuple[tuple[str, str], ...] = ()


class TooManyFailures(GroundexError):
    """More posts failed than the run allows: it stopped after the posts in flight."""

    exit_code = 1  # the system failed, not the user's input


async def run_posts(
    posts: Sequence[AnnotatedPost], extractor: AsyncExtractor, types: TypeSchema, log: PredictionLog,
    concurrency: int, masks: bool = False,
    on_done: Callable[[AnnotatedPost, Prediction, tuple[str, ...]], None] | None = None,
    drain: asyncio.Event | None = None, max_failures: int = 10,
) -> RunStats:
    """Extract every post not yet in ``log``, at most ``concurrency`` at a time, writing each as it finishes.

    A post without an image runs text-only (no locate tools); ``on_done`` sees every finished post. Once ``drain``
    is set (a stop was asked for) no new post starts, the posts in flight finish and are written, and a post
    that fails meanwhile (its engine may have been stopped by the same signal) is left for the resume.

    Failure policy: a post whose extraction raises (a planner error, an over-long prompt, out of memory) is counted
    and left unwritten, so the same command retries it; the others go on. Past ``max_failures`` failed posts no new
    post starts, the posts in flight finish and are written, and ``TooManyFailures`` is raised.
    """
    pending = [a for a in posts if a.post.id not in log.done]
    semaphore = asyncio.Semaphore(max(1, concurrency))
    ran = warnings = text_only = 0
    failed: list[tuple[str, str]] = []

    def draining() -> bool:
        return (drain is not None and drain.is_set()) or len(failed) > max_failures

    async def extract(annotated: AnnotatedPost) -> tuple[ExtractionResult, tuple[str, ...], bool]:
        has_image = annotated.post.image_path is not None
        options = ExtractionOptions(boxes=has_image, masks=masks and has_image)
        try:
            result = await extractor.aextract(annotated.post, types, options)
            return result, result.warnings, has_image
        except ImageLoadError as error:  # this post's image is bad: run it on its text, say so
            result = await extractor.aextract(replace(annotated.post, image_path=None), types, ExtractionOptions(boxes=False))
            return result, (f"post {annotated.post.id}: {error}; ran text-only", *result.warnings), False

    async def one(annotated: AnnotatedPost) -> None:
        nonlocal ran, warnings, text_only
        async with semaphore:
            if draining():
                return
            try:
                result, notes, had_image = await extract(annotated)
            except Exception as error:  # noqa: BLE001 - one post's failure is that post's
                if drain is not None and drain.is_set():
                    return  # its engine may have been stopped by the same signal: the resume runs it
                message = str(error).splitlines()[0] if str(error) else ""
                failed.append((annotated.post.id, f"{type(error).__name__}: {message}"))
                return
        log.append(replace(result.prediction, post_id=annotated.post.id))
        ran += 1
        warnings += len(notes)
        text_only += not had_image
        if on_done:
            on_done(annotated, result.prediction, notes)

    await asyncio.gather(*(one(annotated) for annotated in pending))
    stats = RunStats(ran, len(posts) - len(pending), text_only, warnings, tuple(failed))
    if len(failed) > max_failures:
        post_id, error = failed[-1]
        raise TooManyFailures(f"{len(failed)} posts failed (more than --max-failures {max_failures}; the last, post "
                              f"{post_id}: {error}): stopped. {len(log.done)} posts are saved in {log.path}; the same "
                              "command retries the rest")
    return stats
