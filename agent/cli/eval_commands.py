"""``groundex eval``: run a benchmark split end to end (resumable) and report; ``groundex eval compare``."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from groundex.agent.cli.common import INTERRUPTED_EXIT, stderr, stdout, user_errors
from groundex.agent.cli.stopping import StopSignals
from groundex.agent.errors import GroundexError

if TYPE_CHECKING:
    from groundex.agent.schema import AnnotatedPost, Prediction

app = typer.Typer(help="Benchmark runs: `groundex eval --dataset ... --out runs/NAME`, `groundex eval compare A B`.")
RUN_FILE = "run.json"


class _LiveMner:
    """The run's MNER F1 so far (this call's posts), for the progress bar; restricted to the run's types."""

    def __init__(self, names: set[str]):
        self.names = names
        self.correct = self.predicted = self.gold = 0

    def add(self, annotated: AnnotatedPost, prediction: Prediction) -> str:
        """Count one finished post; returns the F1 in percent, formatted for display."""
        from groundex.eval.metrics import score
        from groundex.eval.views import restrict_types

        gold, predicted = restrict_types([annotated], [prediction], self.names)
        mner = score(gold, predicted).mner.overall
        self.correct += mner.correct
        self.predicted += mner.predicted
        self.gold += mner.gold
        p = self.correct / self.predicted if self.predicted else 0.0
        r = self.correct / self.gold if self.gold else 0.0
        return f"{200 * p * r / (p + r):.2f}" if p + r else "0.00"


def _announce_stop(step: str) -> None:
    if step == "drain":
        stderr.print("stopping: no new post starts; waiting for the posts in flight, to save them (Ctrl-C or "
                     "SIGTERM again to drop them) ...", highlight=False)
    elif step == "cancel":
        stderr.print("stopping now: the posts in flight are dropped (they run again on resume); waiting for the "
                     "planner's current call ...", highlight=False)
    else:
        stderr.print("stopping now ...", highlight=False)


def _average_rate(task) -> float | None:
    """Posts per second since this call started, over the posts it ran (``task.fields["done_before"]`` were resumed).

    rich's own speed looks at the last 30 s, which with batched planners (64 posts finishing together every few
    minutes) swings from 0 to several posts/s; the run's average is the number a user can plan with.
    """
    ran = task.completed - task.fields.get("done_before", 0)
    return ran / task.elapsed if task.elapsed and ran > 0 else None


class RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        rate = _average_rate(task)
        return Text(f"{rate:.2f} posts/s" if rate else "- posts/s")


class RemainingColumn(ProgressColumn):
    def render(self, task) -> Text:
        rate = _average_rate(task)
        if not rate or task.total is None:
            return Text("-:--:--")
        return Text(str(timedelta(seconds=int((task.total - task.completed) / rate))))


def _check_run_dir(out: Path, identity: dict) -> None:
    """A run folder belongs to one (dataset, split, types, profile, masks); resuming with others is refused.

    ``--limit`` is not part of it: predictions are kept per post and scoring takes only the posts of this call, so
    a run of the first 400 posts can be extended to the whole split (or scored on fewer) in the same folder.
    """
    recorded = out / RUN_FILE
    if recorded.is_file():
        previous = json.loads(recorded.read_text())
        changed = [k for k in identity if previous.get(k) != identity[k]]
        if changed:
            raise GroundexError(f"{out} holds a run with other settings ({', '.join(changed)}): resume it with the "
                                "same options, or give another --out")
    out.mkdir(parents=True, exist_ok=True)
    recorded.write_text(json.dumps(identity, indent=2))


@app.callback(invoke_without_command=True)
@user_errors
def eval_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="twitter-gmner, twitter-fmnerg or twitter-smner")] = "twitter-gmner",
    split: Annotated[str, typer.Option("--split")] = "dev",
    data: Annotated[Optional[Path], typer.Option("--data", help="dataset folder (holding <split>.txt), or its parent")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="run folder: predictions.jsonl, metrics.json, report.md")] = None,
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="folder of the post images (<id>.jpg); without it: text-only, MNER only")] = None,
    xml_dir: Annotated[Optional[Path], typer.Option("--xml-dir", help="VOC box folder (default: beside the split file)")] = None,
    types: Annotated[Optional[str], typer.Option("--types", help="a preset, a type file or A,B,C (default: the dataset's types); gold is restricted to them (zero-shot)")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", help="configuration profile")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file merged over the defaults")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="posts in flight against the planner")] = 4,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="only the first N posts of the split")] = None,
    masks: Annotated[bool, typer.Option("--masks", help="also segment, and score masks where the gold has them (SMNER)")] = False,
    iou: Annotated[float, typer.Option("--iou", help="IoU threshold for a correct region")] = 0.5,
) -> None:
    """Run a benchmark split through groundex, resumably, and write metrics.json and report.md."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None or out is None:
        raise GroundexError("give --data (the dataset folder) and --out (the run folder), e.g. "
                            "groundex eval --dataset twitter-gmner --split dev --data ../shared/data --out runs/dev")
    from groundex.agent.config import load_settings
    from groundex.agent.type_presets import load_preset, load_type_schema
    from groundex.eval.datasets import dataset_spec, load_split
    from groundex.eval.metrics import Protocol

    spec = dataset_spec(dataset)
    posts = load_split(dataset, data, split, image_dir=image_dir, xml_dir=xml_dir)[:limit]
    schema = load_type_schema(types) if types else load_preset(spec.type_preset)
    gold_types = {g.entity.type for a in posts for g in a.gold}
    if not gold_types & set(schema.names):
        raise GroundexError(f"none of the types {', '.join(schema.names)} occurs in the {dataset} {split} gold "
                            f"(its types: {', '.join(sorted(gold_types))})")
    settings = load_settings(config_file=config, profile=profile)
    _check_run_dir(out, {"dataset": dataset, "split": split, "types": types or spec.type_preset,
                         "profile": settings.profile, "masks": masks})
    if image_dir is None:
        stderr.print("[yellow]note:[/yellow] no --image-dir: running text-only. MNER is scored; GMNER and EEG are "
                     "not available (they need the images).", highlight=False)
    else:
        missing = sum(a.post.image_path is None for a in posts)
        if missing:
            stderr.print(f"[yellow]note:[/yellow] {missing} of {len(posts)} posts have no image in {image_dir}: they run "
                         "text-only and count for MNER only.", highlight=False)
    _run(posts, schema, settings, out, concurrency, masks, Protocol(iou_threshold=iou, region="mask" if masks else "box"),
         dataset, split, types or spec.type_preset, image_dir, limit)


def _run(posts, schema, settings, out, concurrency, masks, protocol, dataset, split, types_name, image_dir, limit) -> None:
    from groundex.agent.extractor import Extractor
    from groundex.agent.nodes.plan import UNREADABLE_ANSWER
    from groundex.eval.predictions import read_predictions
    from groundex.eval.report import RunDescription, evaluate, metrics_document, write_report
    from groundex.eval.runner import PredictionLog, run_posts
    from groundex.eval.views import restrict_types

    names = set(schema.names)
    post_ids = {a.post.id for a in posts}
    log = PredictionLog(out / "predictions.jsonl")
    if log.repaired_bytes:
        stderr.print(f"note: cut a half-written last line ({log.repaired_bytes} bytes) from the previous run", highlight=False)
    done_before = len(log.done & post_ids)
    if log.done:
        stderr.print(f"resuming: {done_before} of {len(posts)} posts already done", highlight=False)
    live = _LiveMner(names)
    unreadable: list[bool] = []  # per post planned in this call: was the planner's answer unreadable?
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), RemainingColumn(),
               TextColumn("MNER F1 {task.fields[f1]}"))
    # From loading the planner (vLLM starts its engine processes) to the report, Ctrl-C and SIGTERM stop the run
    # without losing work: the posts in flight are saved, the engine shuts down, nothing is orphaned.
    with StopSignals(_announce_stop) as stops:
        try:
            extractor = Extractor.from_settings(settings)
            started = time.monotonic()
            with Progress(*columns, console=stderr) as progress:
                task = progress.add_task(f"{dataset} {split}", total=len(posts), completed=done_before,
                                         done_before=done_before, f1="-")

                def on_done(annotated, prediction, notes) -> None:
                    unreadable.append(any(UNREADABLE_ANSWER in note for note in notes))
                    progress.update(task, advance=1, f1=live.add(annotated, prediction))

                stats = stops.run(run_posts(posts, extractor, schema, log, concurrency, masks, on_done, stops.drain))
            wall = time.monotonic() - started
            predictions = [p for p in read_predictions(out / "predictions.jsonl") if p.post_id in post_ids]
            gold, predictions = restrict_types(posts, predictions, names)
            grounded_ids = {a.post.id for a in posts if a.post.image_path is not None}
            evaluation = evaluate(gold, predictions, schema, grounded_ids, protocol)
            profile = settings.active
            run = RunDescription(dataset, split, types_name, settings.profile,
                                 {"backend": profile.planner.backend, "model": profile.planner.model,
                                  "adapter": profile.planner.adapter},
                                 {"entailment": profile.entailment.backend, "grounding": profile.grounding.backend,
                                  "segmentation": profile.segmentation.backend}, concurrency, masks,
                                 str(image_dir) if image_dir else None, limit)
            document = metrics_document(evaluation, run, wall, stats.warnings)
            document["run"]["unreadable_answers"] = {"posts_planned": len(unreadable), "unreadable": sum(unreadable)}
            write_report(out, document, evaluation, gold, predictions)
        except KeyboardInterrupt:
            saved = len(log.done & post_ids)
            stderr.print(f"interrupted: {saved} of {len(posts)} posts are saved in {log.path}; run the same command "
                         "again to resume", highlight=False)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        finally:
            log.close()
    _print_summary(document)
    stdout.print(f"ran {stats.ran} posts ({stats.already_done} already done, {stats.text_only} text-only) in "
                 f"{wall:.1f} s; report: {out / 'report.md'}", highlight=False)


def _print_summary(document: dict) -> None:
    table = Table(title="Scores (micro, %)", title_justify="left")
    for column in ("task", "P", "R", "F1", "correct", "predicted", "gold"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for name in ("gmner", "mner", "eeg"):
        task = document[name]
        if task["available"]:
            table.add_row(name.upper(), *(f"{task[k]:.2f}" for k in ("precision", "recall", "f1")),
                          *(str(task[k]) for k in ("correct", "predicted", "gold")))
        else:
            table.add_row(name.upper(), "n/a", "n/a", "n/a", "", "", "")
    stdout.print(table)


@app.command("compare")
@user_errors
def compare_command(runs: Annotated[list[Path], typer.Argument(help="run folders holding metrics.json")]) -> None:
    """Side-by-side metrics of several runs (the difference to the first run in brackets)."""
    documents = []
    for run in runs:
        path = run / "metrics.json"
        if not path.is_file():
            raise GroundexError(f"{run} has no metrics.json: is it a finished `groundex eval` run folder?")
        documents.append(json.loads(path.read_text()))
    table = Table(title="Runs compared (micro, %)", title_justify="left")
    table.add_column("metric")
    for run in runs:
        table.add_column(str(run), justify="right")
    for name in ("gmner", "mner", "eeg"):
        for measure in ("precision", "recall", "f1"):
            cells = []
            for document in documents:
                task, first = document[name], documents[0][name]
                if not task["available"]:
                    cells.append("n/a")
                elif document is documents[0] or not first["available"]:
                    cells.append(f"{task[measure]:.2f}")
                else:
                    cells.append(f"{task[measure]:.2f} ({task[measure] - first[measure]:+.2f})")
            table.add_row(f"{name.upper()} {measure[0].upper() if measure != 'f1' else 'F1'}", *cells)
    table.add_row("posts", *(str(d["run"]["posts"]) for d in documents))
    table.add_row("planner", *(str(d["run"]["planner"].get("model")) for d in documents))
    stdout.print(table)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="eval")
