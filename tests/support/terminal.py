"""Drive an interactive command through a real pseudo-terminal (what a user's terminal gives it)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import time
from pathlib import Path
from typing import Sequence

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class PtySession:
    """``expect`` waits for a regex in the output (ANSI codes removed); ``send`` types a line."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: dict[str, str] | None = None):
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                        env={**os.environ, "COLUMNS": "140", **(env or {})}, close_fds=True)
        os.close(slave)
        self.output = ""      # since the last send
        self.transcript = ""  # everything, as the user saw it (the terminal echoes what is typed)

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                text = _ANSI.sub("", os.read(self.master, 65536).decode("utf-8", "replace")).replace("\r", "")
                self.output += text
                self.transcript += text
            except OSError:  # the child closed the terminal
                time.sleep(timeout)

    def expect(self, pattern: str, timeout: float = 120.0) -> re.Match:
        deadline, compiled = time.monotonic() + timeout, re.compile(pattern)
        while time.monotonic() < deadline:
            if match := compiled.search(self.output):
                return match
            if self.process.poll() is not None:
                self._read(0.2)
                if match := compiled.search(self.output):
                    return match
                break
            self._read(0.5)
        raise AssertionError(f"{pattern!r} not seen; output so far:\n{self.output[-3000:]}")

    def send(self, line: str) -> None:
        self.output = ""
        os.write(self.master, (line + "\n").encode())

    def close(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            os.close(self.master)


def save_transcript_svg(transcript: str, path: Path, title: str) -> Path:
    """The transcript as a terminal screenshot (SVG, drawn by rich)."""
    import io

    from rich.console import Console
    from rich.text import Text

    console = Console(record=True, width=112, file=io.StringIO(), force_terminal=True)
    console.print(Text(transcript))
    path.parent.mkdir(parents=True, exist_ok=True)
    console.save_svg(str(path), title=title)
    return path
