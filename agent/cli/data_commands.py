"""``groundex score``, ``groundex dump-gold`` and ``groundex types``: commands over datasets and prediction files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from groundex.agent.cli.common import stderr, stdout, user_errors, writable_file
from groundex.agent.errors import GroundexError
from groundex.agent.type_presets import load_type_schema
from groundex.eval.datasets import DATASETS, load_split
from groundex.eval.metrics import ScoringProtocol, score
from groundex.eval.predictions import read_predictions, write_gold
from groundex.eval.tables import coverage_notes, overall_table, per_type_table

DataOption = Annotated[Path, typer.Option("--data", help="the split's file, the dataset's folder (holding <split>.txt "
                                                          "or <split>.jsonl), or its parent")]
SplitOption = Annotated[str, typer.Option("--split", help="split name: train, dev, test")]
DatasetOption = Annotated[str, typer.Option("--dataset", help=f"one of: {', '.join(DATASETS)}")]
TagColumnOption = Annotated[Optional[int], typer.Option(
    "--tag-column", help="conll: the 1-based column of the tags (default: the last; the token is column 1)")]
TagSchemeOption = Annotated[str, typer.Option(
    "--tag-scheme", help="conll: auto, bio, iob1 or bioes (BILOU reads as bioes); auto decides from the file")]
XmlDirOption = Annotated[
    Optional[Path], typer.Option("--xml-dir", help="VOC box folder (default: xml/ beside the split file)")
]


def score_command(
    data: DataOption,
    pred: Annotated[Path, typer.Option("--pred", help="prediction file (JSONL, one post per line)")],
    split: SplitOption = "dev",
    dataset: DatasetOption = "twitter-gmner",
    iou: Annotated[float, typer.Option("--iou", help="IoU threshold for a correct region")] = 0.5,
    strict_iou: Annotated[bool, typer.Option("--strict-iou", help="require IoU > threshold (the GMNER paper's scorer)")] = False,
    masks: Annotated[bool, typer.Option("--masks", help="compare regions by mask IoU where both sides have masks (SMNER)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the scores as JSON instead of tables")] = False,
    xml_dir: XmlDirOption = None,
    tag_column: TagColumnOption = None,
    tag_scheme: TagSchemeOption = "auto",
) -> None:
    """Score a prediction file: GMNER, MNER and EEG precision / recall / F1, overall and per type."""
    if not 0.0 < iou <= 1.0:
        raise GroundexError(f"--iou must be in (0, 1], got {iou}")
    gold = load_split(dataset, data, split, xml_dir=xml_dir, tag_column=tag_column, tag_scheme=tag_scheme)
    predictions = read_predictions(pred, {annotated.post.id: annotated.post for annotated in gold})
    report = score(gold, predictions, ScoringProtocol(iou, strict_iou, "mask" if masks else "box"))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
        return
    stdout.print(overall_table(report))
    stdout.print(f"protocol: {report.protocol.describe()}", highlight=False)
    stdout.print(per_type_table(report))
    any_region = any(t.box is not None or t.mask is not None for p in predictions for t in p.triples)
    for note in coverage_notes(report, any_region):
        stderr.print(f"[yellow]note:[/yellow] {note}", highlight=False)


def dump_gold_command(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="prediction file to write (JSONL)")],
    split: SplitOption = "dev",
    dataset: DatasetOption = "twitter-gmner",
    xml_dir: XmlDirOption = None,
    image_dir: Annotated[Optional[Path], typer.Option("--image-dir", help="folder of the post images: each line then names its image")] = None,
    tag_column: TagColumnOption = None,
    tag_scheme: TagSchemeOption = "auto",
) -> None:
    """Write a split's gold as JSONL: each post's id, text, image (where known) and triples (first box of each
    mention). It reads back as ``--dataset jsonl`` and scores as a prediction file (e.g. to check a scorer)."""
    writable_file(out, "--out")
    gold = load_split(dataset, data, split, image_dir=image_dir, xml_dir=xml_dir, tag_column=tag_column,
                      tag_scheme=tag_scheme)
    lines = write_gold(out, gold)
    stderr.print(f"wrote {lines} posts to {out}", highlight=False)


def types_command(
    spec: Annotated[str, typer.Argument(help="a preset (gmner, fmnerg, fmnerg-coarse), a .toml/.txt file, or A,B,C")] = "gmner",
) -> None:
    """Show an entity-type schema as the planner will see it."""
    schema = load_type_schema(spec)
    stdout.print(f"[bold]{schema.name}[/bold]: {len(schema)} types", highlight=False)
    for entity_type in schema:
        group = f" [dim]({entity_type.group})[/dim]" if entity_type.group else ""
        stdout.print(f"  [cyan]{entity_type.name}[/cyan]{group}: {entity_type.description}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("score")(user_errors(score_command))
    app.command("dump-gold")(user_errors(dump_gold_command))
    app.command("types")(user_errors(types_command))
