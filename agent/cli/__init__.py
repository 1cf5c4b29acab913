"""The ``groundex`` command line (typer)."""

from __future__ import annotations

import typer

from groundex.agent.cli import (
    chat_command, config_commands, data_commands, eval_commands, extract_command, finetune_commands, serve_command)

app = typer.Typer(
    name="groundex",
    help="Grounded multimodal NER for social-media posts: entities, types and image regions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
extract_command.register(app)
chat_command.register(app)
serve_command.register(app)
data_commands.register(app)
config_commands.register(app)
finetune_commands.register(app)
eval_commands.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
