"""A benchmark run as a library call: load a split, run it through an extractor (resumably), score and report.

``run_benchmark(spec) -> BenchmarkResult`` does all of it; ``groundex eval`` and the benches use the same steps,
split so that a caller can show progress and stop cleanly:

    prepared = prepare_benchmark(spec)          # posts, types, the run folder claimed, predictions.jsonl opened
    stats = await prepared.run(extractor, on_done=..., drain=...)   # the posts not yet in predictions.jsonl
    result = prepared.finish(stats, wall_s)     # scored over this spec's posts: metrics.json, report.md

A run folder belongs to one (dataset, split, data file, types, profile, the profile's settings, masks) and to one
process at a time (an OS lock, ``agent.folders.RunFolderLock``); ``start`` and ``limit`` are not part of
it, so a run of the first N posts can be extended to the whole split in the same folder (scores always cover the
spec's own posts). Scores come from ``eval.metrics`` only.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from groundex.agent import (UNREADABLE_ANSWER, AnnotatedPost, Extractor, GroundexError, Prediction, RunFolderLock,
                            Settings, TypeSchema, is_write_failure, write_failure)
from groundex.eval.datasets import dataset_spec, dataset_types, load_split, split_file
from groundex.eval.metrics import Counts, ScoringProtocol, score
from groundex.eval.predictions import read_predictions
from groundex.eval.report import RunDescription, evaluate, metrics_document, write_report
from groundex.eval.runner import PredictionLog, RunStats, run_posts
from groundex.eval.views import restrict_types

RUN_FILE = "run.json"


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark run. ``types``: a preset, a type file or ``A,B,C`` (``None``: the dataset's own types; gold is
    restricted to the types, which is how zero-shot runs are scored). ``data``: the dataset folder or its parent.
    Without ``image_dir`` the run is text-only: MNER is scored, GMNER and EEG are reported as not available."""

    dataset: str
    split: str
    data: Path
    out: Path
    settings: Settings
    types: str | None = None
    image_dir: Path | None = None
    xml_dir: Path | None = None
    concurrency: int = 4
    limit: int | None = None
    masks: bool = False
    iou: float = 0.5
    tag_column: int | None = None
    tag_scheme: str = "auto"
    start: int = 1  # the first post (1-based) of the split to run; with ``limit``, a slice of it
    max_failures: int = 10  # posts whose extraction may fail (left unwritten, retried on resume) before the run stops

    @property
    def protocol(self) -> ScoringProtocol:
        return ScoringProtocol(iou_threshold=self.iou, region="mask" if self.masks else "box")


@dataclass(frozen=True)
class BenchmarkResult:
    """A finished run: ``document`` is ``metrics.json``; ``stats`` what this call did; ``wall_s`` its seconds."""

    out: Path
    document: dict[str, Any]
    stats: RunStats
    wall_s: float

    @property
    def report(self) -> Path:
        return self.out / "report.md"

    def f1(self, task: str) -> float | None:
        """A task's micro F1 in percent (``gmner``, ``mner``, ``eeg``); ``None`` where it is not available."""
        scores = self.document[task]
        return scores["f1"] if scores["available"] else None


class LiveScore:
    """The MNER F1 of the posts finished so far (restricted to the run's types), for progress displays."""

    def __init__(self, type_names: set[str]):
        self.type_names = type_names
        self.counts = Counts(0, 0, 0)

    def add(self, annotated: AnnotatedPost, prediction: Prediction) -> float:
        """Count one finished post; returns the MNER F1 so far in percent."""
        gold, predicted = restrict_types([annotated], [prediction], self.type_names)
        self.counts = self.counts + score(gold, predicted).mner.overall
        return 100 * self.counts.f1


def settings_digest(settings: Settings) -> str:
    """12 hex digits of the active profile's settings (planner, tools, decoding): editing the profile, or another
    --config, changes the system that predicts, so a run folder records it."""
    import hashlib

    return hashlib.sha256(settings.active.model_dump_json().encode()).hexdigest()[:12]


def _claim_run_dir(out: Path, identity: dict[str, Any]) -> None:
    """A run folder belongs to one identity; resuming with other settings is refused."""
    recorded = out / RUN_FILE
    if recorded.is_file():
        previous = json.loads(recorded.read_text())
        changed = [k for k in identity if previous.get(k) != identity[k]]
        if changed:
            named = ", ".join("the profile's settings" if key == "settings" else key for key in changed)
            raise GroundexError(f"{out} holds a run with other settings ({named}): resume it with the same options "
                                "and configuration, or give another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
        recorded.write_text(json.dumps(identity, indent=2))
    except OSError as error:
        if is_write_failure(error):
            raise write_failure(error, recorded) from error
        raise GroundexError(f"run folder {out} cannot be written ({error.strerror or error})") from error


@dataclass
class PreparedBenchmark:
    """A benchmark ready to run: its posts and types, the run folder claimed, the predictions log open.

    ``notes`` are plain-language remarks for the user (text-only run, posts without image, a resumed run)."""

    spec: BenchmarkSpec
    posts: list[AnnotatedPost]
    schema: TypeSchema
    types_name: str
    log: PredictionLog
    notes: list[str] = field(default_factory=list)
    unreadable: list[bool] = field(default_factory=list)  # per post planned now: was the planner's answer unreadable?
    lock: RunFolderLock | None = None  # held from prepare to close: one writer per run folder

    @property
    def post_ids(self) -> set[str]:
        return {a.post.id for a in self.posts}

    @property
    def done(self) -> int:
        """Posts of this spec already in predictions.jsonl."""
        return len(self.log.done & self.post_ids)

    async def run(self, extractor: Extractor,
                  on_done: Callable[[AnnotatedPost, Prediction, tuple[str, ...]], None] | None = None,
                  drain: asyncio.Event | None = None) -> RunStats:
        """Extract every post not yet saved (``eval.runner.run_posts``); ``on_done`` sees each finished post."""
        def done(annotated: AnnotatedPost, prediction: Prediction, notes: tuple[str, ...]) -> None:
            self.unreadable.append(any(UNREADABLE_ANSWER in note for note in notes))
            if on_done is not None:
                on_done(annotated, prediction, notes)

        spec = self.spec
        return await run_posts(self.posts, extractor, self.schema, self.log, spec.concurrency, spec.masks, done, drain,
                               spec.max_failures)

    def finish(self, stats: RunStats, wall_s: float) -> BenchmarkResult:
        """Score this spec's posts from predictions.jsonl and write metrics.json, report.md and the plots."""
        spec, post_ids = self.spec, self.post_ids
        self.log.close()  # the folder stays locked until close()
        predictions = [p for p in read_predictions(spec.out / "predictions.jsonl") if p.post_id in post_ids]
        gold, predictions = restrict_types(self.posts, predictions, set(self.schema.names))
        grounded_ids = {a.post.id for a in self.posts if a.post.image_path is not None}
        evaluation = evaluate(gold, predictions, self.schema, grounded_ids, spec.protocol)
        profile = spec.settings.active
        run = RunDescription(spec.dataset, spec.split, self.types_name, spec.settings.profile,
                             {"backend": profile.planner.backend, "model": profile.planner.model,
                              "adapter": profile.planner.adapter},
                             {"entailment": profile.entailment.backend, "grounding": profile.grounding.backend,
                              "segmentation": profile.segmentation.backend}, spec.concurrency, spec.masks,
                             str(spec.image_dir) if spec.image_dir else None, spec.limit)
        document = metrics_document(evaluation, run, wall_s, stats.warnings)
        document["run"]["unreadable_answers"] = {"posts_planned": len(self.unreadable), "unreadable": sum(self.unreadable)}
        write_report(spec.out, document, evaluation, gold, predictions)
        return BenchmarkResult(spec.out, document, stats, wall_s)

    def close(self) -> None:
        self.log.close()
        if self.lock is not None:
            self.lock.release()


def prepare_benchmark(spec: BenchmarkSpec) -> PreparedBenchmark:
    """Load the split and the types, check they meet, claim the run folder and open its predictions log.

    Raises ``GroundexError`` (with what to do) for an unknown dataset, a missing split, types absent from the gold,
    or a run folder that holds a run with other settings."""
    dataset = dataset_spec(spec.dataset)
    text_file = split_file(dataset, spec.data, spec.split)
    types = dataset_types(dataset, text_file, spec.types)
    posts = load_split(spec.dataset, spec.data, spec.split, spec.image_dir, spec.xml_dir, spec.tag_column,
                       spec.tag_scheme, types.known_labels)[spec.start - 1:][:spec.limit]
    if not posts:
        raise GroundexError(f"--start {spec.start} is past the end of the {spec.dataset} {spec.split} split")
    schema = types.schema
    gold_types = {g.entity.type for a in posts for g in a.gold}
    if not gold_types & set(schema.names):
        raise GroundexError(f"none of the types {', '.join(schema.names)} occurs in the {spec.dataset} {spec.split} "
                            f"gold (its types: {', '.join(sorted(gold_types))})")
    types_name = types.name
    lock = RunFolderLock(spec.out, f"groundex eval ({spec.dataset} {spec.split})").acquire()
    try:
        _claim_run_dir(spec.out, {"dataset": spec.dataset, "split": spec.split, "data": str(text_file.resolve()),
                                  "types": types_name, "profile": spec.settings.profile, "masks": spec.masks,
                                  "settings": settings_digest(spec.settings)})
        log = PredictionLog(spec.out / "predictions.jsonl")
    except BaseException:
        lock.release()
        raise
    notes = []
    if spec.image_dir is None:
        notes.append("no --image-dir: running text-only. MNER is scored; GMNER and EEG are not available (they need "
                     "the images).")
    elif missing := sum(a.post.image_path is None for a in posts):
        notes.append(f"{missing} of {len(posts)} posts have no image in {spec.image_dir}: they run text-only and "
                     "count for MNER only.")
    prepared = PreparedBenchmark(spec, posts, schema, types_name, log, notes, lock=lock)
    if log.repaired_bytes:
        notes.append(f"cut a half-written last line ({log.repaired_bytes} bytes) from the previous run")
    if prepared.done:
        notes.append(f"resuming: {prepared.done} of {len(posts)} posts already done")
    return prepared


def run_benchmark(spec: BenchmarkSpec, extractor: Extractor | None = None,
                  on_done: Callable[[AnnotatedPost, Prediction, tuple[str, ...]], None] | None = None) -> BenchmarkResult:
    """Run, score and report a benchmark split in one call (the extractor is built from ``spec.settings`` unless
    given). A run interrupted earlier continues where it stopped."""
    prepared = prepare_benchmark(spec)
    try:
        extractor = extractor or Extractor.from_settings(spec.settings)
        started = time.monotonic()
        stats = asyncio.run(prepared.run(extractor, on_done))
        return prepared.finish(stats, time.monotonic() - started)
    finally:
        prepared.close()
