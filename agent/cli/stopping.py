"""Stopping a long command on SIGTERM (``kill``, a job scheduler's stop) the way asyncio stops on Ctrl-C.

Python's default for SIGTERM ends the process on the spot: vLLM's engine processes were left running with nobody
to answer (measured here: an orphaned EngineCore kept both cores busy). Raising ``KeyboardInterrupt`` from the
signal handler instead is not safe while an event loop runs: it can land inside asyncio's or LangGraph's own
bookkeeping, and the half-run coroutines are then finalised after the loop is gone ("RuntimeError: no running
event loop" tracebacks, seen in 13 of 40 stops of a spaCy run). So, like ``asyncio.Runner`` does for Ctrl-C:
while the loop runs, SIGTERM cancels the main task, the cancellation unwinds every coroutine inside the loop,
and the run then ends with ``KeyboardInterrupt``. Outside the loop (loading models, scoring), or on a second
SIGTERM, the handler raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType, TracebackType
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


class SigtermStops:
    """Context manager: SIGTERM inside it stops the command as ``KeyboardInterrupt`` (see the module docstring).

    ``announce`` is called once, when the first SIGTERM arrives during :meth:`run` (to say what happens now).
    """

    def __init__(self, announce: Callable[[], None] = lambda: None):
        self.announce = announce
        self.requested = False
        self._task: asyncio.Task | None = None
        self._previous = None

    def __enter__(self) -> "SigtermStops":
        self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        signal.signal(signal.SIGTERM, self._previous)

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        task = self._task
        if self.requested or task is None or task.done():
            raise KeyboardInterrupt
        self.requested = True
        self.announce()
        task.cancel()
        task.get_loop().call_soon_threadsafe(lambda: None)  # wake a loop that waits in select()

    def run(self, awaitable: Awaitable[T]) -> T:
        """``asyncio.run(awaitable)``; a SIGTERM meanwhile cancels it and this raises ``KeyboardInterrupt``."""

        async def main() -> T:
            self._task = asyncio.current_task()
            try:
                return await awaitable
            finally:
                self._task = None

        try:
            return asyncio.run(main())
        except asyncio.CancelledError:
            if self.requested:
                raise KeyboardInterrupt from None
            raise
