"""``groundex finetune build-data | train | export``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from groundex.agent.cli.common import INTERRUPTED_EXIT, stderr, stdout, user_errors, writable_file
from groundex.agent.cli.data_commands import TagColumnOption, TagSchemeOption
from groundex.agent.cli.stopping import StopSignals
from groundex.agent.errors import GroundexError

app = typer.Typer(help="Fine-tune the planner: build SFT data, train a LoRA adapter, check it for vLLM.",
                  no_args_is_help=True)


def build_data_command(
    out: Annotated[Path, typer.Option("--out", help="SFT examples to write (JSONL)")],
    data: Annotated[Optional[Path], typer.Option("--data", help="the split's file, the dataset's folder (holding <split>.txt or <split>.jsonl), or its parent")] = None,
    split: Annotated[str, typer.Option("--split")] = "train",
    dataset: Annotated[str, typer.Option("--dataset", help="twitter-gmner, twitter-fmnerg, or any NER data: conll, jsonl")] = "twitter-gmner",
    mixture: Annotated[Optional[Path], typer.Option("--mixture", help="a mixture file (TOML, finetune/mixture.py): several datasets with weights, instead of --data/--dataset")] = None,
    types: Annotated[Optional[str], typer.Option("--types", help="conll/jsonl: a type file or A,B,C (default: types.toml beside the data); only these labels are taught")] = None,
    tag_column: TagColumnOption = None,
    tag_scheme: TagSchemeOption = "auto",
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="folder of the post images (<id>.jpg)")] = None,
    text_only: Annotated[bool, typer.Option("--text-only", help="build text-only examples (no image; for text planners)")] = False,
    descriptions: Annotated[Optional[Path], typer.Option("--descriptions", help="JSONL of entity descriptions (else derived)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="schema randomisation seed")] = 0,
    no_randomise: Annotated[bool, typer.Option("--no-randomise", help="always show the dataset's own type schema")] = False,
    held_out: Annotated[Optional[str], typer.Option("--held-out", help="comma-separated types never to show (default: the zero-shot list)")] = None,
    final_answer: Annotated[bool, typer.Option("--final-answer/--no-final-answer", help="end with the tool results and the final triples turn (the agent graph assembles triples itself, so short CPU runs can leave it out)")] = True,
    answer_style: Annotated[str, typer.Option("--answer-style", help="auto (lean for --text-only, else full), full or lean: how the answers are written (agent/contract.py)")] = "auto",
) -> None:
    """Turn a split's gold annotations (or a mixture of datasets) into planner training conversations.

    With ``--dataset twitter-fmnerg`` (fine labels) each post's schema is drawn at the GMNER, FMNERG-group or
    fine level (``finetune.schema_sampling.FineLabelSampler``); conll and jsonl data draw from their own types."""
    from groundex.agent.contract import ANSWER_STYLES
    from groundex.finetune.data import DataRecipe, build_dataset, write_examples

    writable_file(out, "--out")
    if mixture is not None:
        _build_mixture(mixture, out)
        return
    if data is None:
        raise GroundexError("give --data (a dataset's split file or folder) or --mixture (a mixture file)")
    if image_dir is None and not text_only:
        raise GroundexError("no --image-dir: the multimodal planner learns from the images. Give the folder of "
                            "<id>.jpg files, or pass --text-only to build text-only examples (labelled as such)")
    if answer_style not in ("auto", *ANSWER_STYLES):
        raise GroundexError(f"--answer-style must be one of auto, {', '.join(ANSWER_STYLES)}, not {answer_style!r}")
    recipe = DataRecipe(dataset=dataset, split=split, text_only=text_only, answer_style=answer_style, seed=seed,
                        randomise=not no_randomise, final_answer=final_answer,
                        held_out=None if held_out is None else tuple(t.strip() for t in held_out.split(",") if t.strip()),
                        types=types, tag_column=tag_column, tag_scheme=tag_scheme)
    examples = build_dataset(recipe, data, image_dir=None if text_only else image_dir, descriptions=descriptions)
    count = write_examples(out, examples)
    without_image = sum(e.text_only for e in examples)
    stderr.print(f"wrote {count} examples to {out}; {without_image} text-only"
                 + (" (--text-only)" if text_only else f" (no image found in {image_dir})" if without_image else ""),
                 highlight=False)


def _build_mixture(mixture: Path, out: Path) -> None:
    from groundex.finetune.data import write_examples
    from groundex.finetune.mixture import build_mixture, load_mixture, mixture_digest
    from groundex.finetune.train import data_fingerprint

    config = load_mixture(mixture)
    examples, parts = build_mixture(config)
    count = write_examples(out, examples)
    for part in parts:
        stderr.print(f"  {part.name}: {part.examples} examples from {part.posts} posts ({part.types} types)",
                     highlight=False)
    stderr.print(f"wrote {count} examples ({config.epochs} epoch(s) of the mixture {config.name}, file sha256 "
                 f"{mixture_digest(mixture)[:12]}) to {out}; data sha256 {data_fingerprint(out)}", highlight=False)


def _announce_training_stop(step: str) -> None:
    if step == "drain":
        stderr.print("stopping: after the current optimizer step, with a checkpoint (Ctrl-C or SIGTERM again to "
                     "stop at once, losing the steps since the last checkpoint) ...", highlight=False)
    else:
        stderr.print("stopping now ...", highlight=False)


def train_command(
    config: Annotated[Path, typer.Option("--config", help="training config (TOML), see finetune/config.py")],
) -> None:
    """Train (or resume) a LoRA adapter; writes checkpoints, loss.csv, loss.png and adapter/."""
    from groundex.finetune.config import load_train_config
    from groundex.finetune.train import CHECKPOINT, train

    settings = load_train_config(config)
    columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    checkpoint = settings.output_dir / CHECKPOINT
    # under accelerate launch / torchrun (RANK set) only the main process shows progress and reports
    main = int(os.environ.get("RANK", "0")) == 0
    # Ctrl-C / SIGTERM: the first ends the run after the current optimizer step with a checkpoint (no step is
    # lost; with several processes, all end after the same step), the second stops at once (the resume starts
    # from the last checkpoint, save_every steps apart).
    with StopSignals(_announce_training_stop if main else lambda step: None, drain_outside_loop=True) as stops, \
            Progress(*columns, console=stderr, disable=not main) as progress:
        task = progress.add_task("train", total=None, loss="-")

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, loss=f"{loss:.4f}")

        try:
            result = train(settings, on_step, stops.drain.is_set)
        except KeyboardInterrupt:
            if main:
                stderr.print(f"interrupted: stopped at once; the same command resumes from the last checkpoint in "
                             f"{checkpoint}", highlight=False)
            raise typer.Exit(INTERRUPTED_EXIT) from None
    if not main:
        raise typer.Exit(INTERRUPTED_EXIT if result.stopped else 0)
    if result.stopped:
        where = f"saved in {checkpoint}" if result.steps else "before the first step"
        stderr.print(f"interrupted: stopped after step {result.steps} of {result.total_steps}, {where}; run the same "
                     "command again to resume", highlight=False)
        raise typer.Exit(INTERRUPTED_EXIT)
    stdout.print(f"adapter: {result.adapter_dir} ({result.steps} steps; {result.skipped_too_long} examples skipped "
                 f"as longer than max_length)", highlight=False)


def export_command(
    adapter: Annotated[Path, typer.Option("--adapter", help="the trained adapter folder")],
    max_lora_rank: Annotated[int, typer.Option("--max-lora-rank", help="the server's --max-lora-rank")] = 64,
    name: Annotated[str, typer.Option("--name", help="the --lora-modules name to serve it under")] = "groundex",
    merge: Annotated[bool, typer.Option("--merge", help="merge the adapter into a cached copy of its base and print "
                                        "the command that serves that copy (no LoRA kernels: the fast way on CPU)")] = False,
) -> None:
    """Check an adapter against what vLLM serves and print the serve command."""
    from groundex.finetune.export import check_adapter, merged_serve_command

    report = check_adapter(adapter, max_lora_rank, name)
    stdout.print(f"adapter {adapter}: LoRA rank {report.rank}, alpha {report.alpha}, base {report.base_model}, "
                 f"targets {', '.join(report.target_modules)}", highlight=False)
    for problem in report.problems:
        stderr.print(f"[red]problem:[/red] {problem}", highlight=False)
    if not report.servable:
        raise typer.Exit(1)
    if merge:
        merged, command = merged_serve_command(report, name)
        stdout.print(f"merged into {merged}; serve it with:", highlight=False)
        stdout.print(command, highlight=False, soft_wrap=True)
        return
    stdout.print("servable by vLLM as is:", highlight=False)
    stdout.print(report.serve_command, highlight=False, soft_wrap=True)


def snapshot_command(
    run: Annotated[Path, typer.Option("--run", help="the training run folder (output_dir of the config)")],
    to: Annotated[Path, typer.Option("--to", help="where to copy its checkpoint and loss curve, e.g. finetune/resume/NAME")],
) -> None:
    """Copy a run's latest checkpoint (adapter, optimizer, position) to a folder you can commit; a config with
    ``resume_from`` = that folder continues the run on a machine that has none of ``runs/``."""
    from groundex.finetune.train import snapshot_run

    snapshot_run(run, to)
    position = json.loads((to / "checkpoint" / "position.json").read_text())
    size = sum(f.stat().st_size for f in to.rglob("*") if f.is_file())
    stdout.print(f"snapshot of step {position['step']} in {to} ({size / 2**20:.1f} MiB)", highlight=False)


def ship_command(
    run: Annotated[Path, typer.Option("--run", help="the training run folder (output_dir of the config)")],
    config: Annotated[Path, typer.Option("--config", help="the training config the run used")],
    to: Annotated[Path, typer.Option("--to", help="where to put the shipped adapter, e.g. finetune/adapters/NAME")],
) -> None:
    """Copy a finished adapter (bf16 weights), its config, training config and loss curve for shipping."""
    from groundex.finetune.export import check_adapter, ship_adapter

    target = ship_adapter(run, to, config)
    report = check_adapter(target)
    size = sum(f.stat().st_size for f in target.iterdir()) / 2**20
    stdout.print(f"shipped {target} ({size:.1f} MiB); servable by vLLM: {report.servable}", highlight=False)


app.command("build-data")(user_errors(build_data_command))
app.command("train")(user_errors(train_command))
app.command("export")(user_errors(export_command))
app.command("ship")(user_errors(ship_command))
app.command("snapshot")(user_errors(snapshot_command))


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="finetune")
