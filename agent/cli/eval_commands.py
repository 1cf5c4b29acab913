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
from groundex.agent.cli.data_commands import TagColumnOption, TagSchemeOption
from groundex.agent.cli.stopping import StopSignals
from groundex.agent.errors import GroundexError
from groundex.agent.folders import is_write_failure, write_failure

if TYPE_CHECKING:
    from groundex.eval.benchmark import BenchmarkSpec

app = typer.Typer(help="Benchmark runs: `groundex eval --dataset ... --out runs/NAME`, `groundex eval compare A B`.")


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


@app.callback(invoke_without_command=True)
@user_errors
def eval_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset", help="twitter-gmner, twitter-fmnerg, twitter-smner, or any NER "
                                         "data: conll, jsonl (types from --types or types.toml beside the data)")] = "twitter-gmner",
    split: Annotated[str, typer.Option("--split")] = "dev",
    data: Annotated[Optional[Path], typer.Option("--data", help="the split's file, the dataset's folder (holding "
                                                 "<split>.txt or <split>.jsonl), or its parent")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="run folder: predictions.jsonl, metrics.json, report.md")] = None,
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="folder of the post images (<id>.jpg); without it: text-only, MNER only")] = None,
    xml_dir: Annotated[Optional[Path], typer.Option("--xml-dir", help="VOC box folder (default: beside the split file)")] = None,
    types: Annotated[Optional[str], typer.Option("--types", help="a preset, a type file or A,B,C (default: the dataset's types); gold is restricted to them (zero-shot)")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", help="configuration profile")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file merged over the defaults")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="posts in flight against the planner")] = 4,
    limit: Annotated[Optional[int], typer.Option("--limit", min=1, help="only the first N posts of the split (from --start)")] = None,
    start: Annotated[int, typer.Option("--start", min=1, help="the first post to run (1-based): --start 901 --limit 100 runs posts 901-1000")] = 1,
    max_failures: Annotated[int, typer.Option("--max-failures", min=0, help="posts whose extraction may fail (left unwritten, retried by the same command) before the run stops")] = 10,
    masks: Annotated[bool, typer.Option("--masks", help="also segment, and score masks where the gold has them (SMNER)")] = False,
    iou: Annotated[float, typer.Option("--iou", help="IoU threshold for a correct region")] = 0.5,
    tag_column: TagColumnOption = None,
    tag_scheme: TagSchemeOption = "auto",
) -> None:
    """Run a benchmark split through groundex, resumably, and write metrics.json and report.md."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None or out is None:
        raise GroundexError("give --data (the dataset folder) and --out (the run folder), e.g. "
                            "groundex eval --dataset twitter-gmner --split dev --data ../shared/data --out runs/dev")
    from groundex.agent import load_settings
    from groundex.eval.benchmark import BenchmarkSpec

    spec = BenchmarkSpec(dataset, split, data, out, load_settings(config_file=config, profile=profile), types,
                         image_dir, xml_dir, concurrency, limit, masks, iou, tag_column, tag_scheme, start,
                         max_failures)
    _run(spec)


def _run(spec: BenchmarkSpec) -> None:
    """The library's benchmark steps (``eval.benchmark``) with a progress bar, clean stops and a summary."""
    from groundex.agent import Extractor
    from groundex.eval.benchmark import LiveScore, prepare_benchmark

    prepared = prepare_benchmark(spec)
    for note in prepared.notes:
        stderr.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    live = LiveScore(set(prepared.schema.names))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), RemainingColumn(),
               TextColumn("MNER F1 {task.fields[f1]}"))
    total, done_before = len(prepared.posts), prepared.done
    # From loading the planner (vLLM starts its engine processes) to the report, Ctrl-C and SIGTERM stop the run
    # without losing work: the posts in flight are saved, the engine shuts down, nothing is orphaned.
    with StopSignals(_announce_stop) as stops:
        try:
            extractor = Extractor.from_settings(spec.settings)
            started = time.monotonic()
            with Progress(*columns, console=stderr) as progress:
                task = progress.add_task(f"{spec.dataset} {spec.split}", total=total, completed=done_before,
                                         done_before=done_before, f1="-")

                def on_done(annotated, prediction, notes) -> None:
                    progress.update(task, advance=1, f1=f"{live.add(annotated, prediction):.2f}")

                stats = stops.run(prepared.run(extractor, on_done, stops.drain))
            result = prepared.finish(stats, time.monotonic() - started)
        except OSError as error:  # a full disk, a read-only folder, an I/O error: what is saved, and how to go on
            if not is_write_failure(error):
                raise
            raise write_failure(error, then=f"{prepared.done} of {total} posts are saved in {prepared.log.path}; "
                                           "free the space and run the same command to resume") from error
        except KeyboardInterrupt:
            stderr.print(f"interrupted: {prepared.done} of {total} posts are saved in {prepared.log.path}; run the "
                         "same command again to resume", highlight=False)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        finally:
            prepared.close()
    _print_summary(result.document)
    if stats.failed:
        post_id, error = stats.failed[0]
        stderr.print(f"[yellow]warning:[/yellow] {len(stats.failed)} posts failed and are not in the predictions "
                     f"(first: post {post_id}, {error}); run the same command to retry them", highlight=False)
    stdout.print(f"ran {stats.ran} posts ({stats.already_done} already done, {stats.text_only} text-only) in "
                 f"{result.wall_s:.1f} s; report: {result.report}", highlight=False)


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
