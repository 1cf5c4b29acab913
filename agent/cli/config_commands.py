"""``groundex config``: show the merged configuration, so a user sees what will run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from groundex.agent.cli.common import stdout, user_errors
from groundex.agent.config import load_settings


def config_command(
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file merged over the defaults")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", help="profile to show as active")] = None,
) -> None:
    """Print the configuration after merging defaults, config file, environment and flags."""
    settings = load_settings(config_file=config, profile=profile)
    stdout.print_json(settings.model_dump_json())


def register(app: typer.Typer) -> None:
    app.command("config")(user_errors(config_command))
