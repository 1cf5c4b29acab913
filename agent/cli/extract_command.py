"""``groundex extract``: one post (image + text) -> its prediction line, and an overlay PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from groundex.agent.cli.common import stderr, user_errors, writable_file, write_text_file
from groundex.agent.config import load_settings
from groundex.agent.errors import GroundexError
from groundex.agent.records import encode_prediction
from groundex.agent.schema import Post
from groundex.agent.type_presets import load_type_schema
from groundex.tools.images import load_image


def extract_command(
    image: Annotated[Path, typer.Option("--image", help="the post's image (jpg, png, ...)")],
    text: Annotated[str, typer.Option("--text", help="the post's text")],
    types: Annotated[str, typer.Option("--types", help="a preset (gmner, fmnerg, fmnerg-coarse) or A,B,C")] = "gmner",
    types_file: Annotated[Optional[Path], typer.Option("--types-file", help="entity types from a .toml or .txt file")] = None,
    masks: Annotated[bool, typer.Option("--masks", help="also segment each located entity (box-prompted)")] = False,
    profile: Annotated[Optional[str], typer.Option("--profile", help="configuration profile, e.g. gpu or cpu")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file merged over the defaults")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="also write the prediction as JSON here")] = None,
    overlay: Annotated[Optional[Path], typer.Option("--overlay", help="write the image with boxes/masks/labels here (PNG)")] = None,
    post_id: Annotated[Optional[str], typer.Option("--id", help="post id in the output (default: the image file name)")] = None,
) -> None:
    """Extract grounded entities from one post and print its prediction line (JSON)."""
    if not text.strip():
        raise GroundexError("--text is empty: give the post's text")
    loaded = load_image(image)  # user mistakes are reported before any model or heavy library loads
    for path, option in ((out, "--out"), (overlay, "--overlay")):
        if path is not None:
            writable_file(path, option)
    settings = load_settings(config_file=config, profile=profile)
    schema = load_type_schema(str(types_file) if types_file else types)

    from groundex.agent.extractor import Extractor
    from groundex.agent.overlay import save_overlay
    from groundex.agent.state import ExtractionOptions

    extractor = Extractor.from_settings(settings)
    result = extractor.extract(Post(post_id or image.stem, text, image_path=image), schema,
                               ExtractionOptions(boxes=True, masks=masks))
    line = json.dumps(encode_prediction(result.prediction), ensure_ascii=False)
    typer.echo(line)
    for warning in result.warnings:
        stderr.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if out is not None:  # the line is on stdout already: a failed write loses nothing
        write_text_file(out, line + "\n", "--out")
    if overlay is not None:
        try:
            save_overlay(loaded, result.prediction.triples, overlay)
        except (OSError, ValueError) as error:  # ValueError: PIL knows no format for the file name's extension
            raise GroundexError(f"--overlay {overlay} could not be written ({error})") from error
        stderr.print(f"overlay written to {overlay}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("extract")(user_errors(extract_command))
