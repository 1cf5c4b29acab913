"""What every CLI command shares: the consoles and the conversion of user errors into one-line messages."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Callable, ParamSpec, TypeVar

import typer
from rich.console import Console

from groundex.agent.errors import GroundexError
from groundex.agent.folders import is_write_failure, write_failure

P = ParamSpec("P")
R = TypeVar("R")

# Piped output (files, CI logs) gets room for the wide per-type tables; a terminal keeps its own width.
stdout = Console(width=None if sys.stdout.isatty() else 132)
# Messages are not word-wrapped by rich: a terminal wraps them itself, and a log keeps each message (with its file
# paths) on one line that grep and scripts can find.
stderr = Console(stderr=True, soft_wrap=True)

USAGE_ERROR_EXIT = 2
ENVIRONMENT_ERROR_EXIT = 1  # the machine failed us (full disk, read-only, I/O error), not the input
INTERRUPTED_EXIT = 130  # the shell's code for a run stopped by a signal; the run resumes


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Run ``command``; a ``GroundexError`` becomes ``error: <message>`` on stderr and exit code 2 (1 for a
    ``WriteFailure``), and an ``OSError`` of the environment while writing (``agent.folders.WRITE_ERRNOS``) one
    ``error:`` line naming the file and the cause, exit code 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except GroundexError as error:
            stderr.print(f"[bold red]error:[/bold red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(getattr(error, "exit_code", USAGE_ERROR_EXIT)) from None
        except OSError as error:  # a full disk, a read-only folder, an I/O error while writing: one line, exit 1
            if not is_write_failure(error):
                raise
            stderr.print(f"[bold red]error:[/bold red] {write_failure(error)}", highlight=False, soft_wrap=True)
            raise typer.Exit(ENVIRONMENT_ERROR_EXIT) from None

    return run


def writable_file(path: Path, option: str) -> Path:
    """Check, before any model loads, that the file ``path`` (given as ``option``) can be written; its folder is
    made if missing. Raises ``GroundexError`` naming the option, the path and the reason."""
    if path.is_dir():
        raise GroundexError(f"{option} {path} is a folder: give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GroundexError(f"{option} {path}: its folder cannot be made ({error.strerror or error})") from error
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise GroundexError(f"{option} {path} cannot be written (permission denied)")
    return path


def write_text_file(path: Path, text: str, option: str) -> None:
    """Write ``text`` to ``path``; an ``OSError`` (disk full, permissions changed meanwhile) becomes a
    ``GroundexError`` naming the option."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise GroundexError(f"{option} {path} could not be written ({error.strerror or error})") from error
