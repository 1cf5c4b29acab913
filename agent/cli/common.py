"""What every CLI command shares: the consoles and the conversion of user errors into one-line messages."""

from __future__ import annotations

import functools
import sys
from typing import Callable, ParamSpec, TypeVar

import typer
from rich.console import Console

from groundex.agent.errors import GroundexError

P = ParamSpec("P")
R = TypeVar("R")

# Piped output (files, CI logs) gets room for the wide per-type tables; a terminal keeps its own width.
stdout = Console(width=None if sys.stdout.isatty() else 132)
# Messages are not word-wrapped by rich: a terminal wraps them itself, and a log keeps each message (with its file
# paths) on one line that grep and scripts can find.
stderr = Console(stderr=True, soft_wrap=True)

USAGE_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130  # the shell's code for a run stopped by a signal; the run resumes


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command``; a ``GroundexError`` becomes ``error: <message>`` on stderr and exit code 2."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except GroundexError as error:
            stderr.print(f"[bold red]error:[/bold red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(USAGE_ERROR_EXIT) from None

    return run
