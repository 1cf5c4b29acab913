"""Stopping a long batch command on Ctrl-C or SIGTERM (``kill``, a job scheduler) without losing work.

Python's default for SIGTERM ends the process on the spot: vLLM's engine processes were left running with nobody
to answer (measured here: an orphaned EngineCore kept both cores busy). Raising ``KeyboardInterrupt`` from the
signal handler is not safe while an event loop runs either: it can land inside asyncio's or LangGraph's own
bookkeeping, and the half-run coroutines are then finalised after the loop is gone ("RuntimeError: no running
event loop" tracebacks, seen in 13 of 40 stops of a spaCy run).

So, while the loop runs, the signals escalate:

1. the first asks the work to **drain**: :attr:`StopSignals.drain` is set, no new item starts, the items in
   flight finish and are saved (a vLLM batch of 64 posts is minutes of CPU work);
2. the second **cancels** the work inside the loop, the way ``asyncio.Runner`` handles Ctrl-C: items in flight
   are dropped (they run again on resume);
3. the third raises ``KeyboardInterrupt`` at once.

Outside the loop (loading models, scoring) a signal raises ``KeyboardInterrupt`` at once, unless the command is
synchronous and polls :attr:`StopSignals.drain` itself (``drain_outside_loop``, e.g. training, which checks it
after every optimizer step): then the first signal drains and the second raises. Either way the command ends as
``KeyboardInterrupt`` (see :meth:`StopSignals.run`) or returns early, and turns that into its "interrupted"
message and exit code 130.
"""

from __future__ import annotations

import asyncio
import signal
from types import FrameType, TracebackType
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager: Ctrl-C and SIGTERM inside it stop the command in the three steps of the module docstring.

    ``announce(step)`` is called with ``"drain"``, ``"cancel"`` or ``"now"`` when a signal starts that step (to
    tell the user what happens now and what another signal would do).
    """

    def __init__(self, announce: Callable[[str], None] = lambda step: None, drain_outside_loop: bool = False):
        self.announce = announce
        self.drain_outside_loop = drain_outside_loop
        self.drain = asyncio.Event()  # set by the first signal: start no new item
        self.signals = 0
        self._task: asyncio.Task | None = None
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        """Whether a signal asked the command to stop."""
        return self.signals > 0

    def __enter__(self) -> "StopSignals":
        self._previous = {number: signal.signal(number, self._on_signal) for number in SIGNALS}
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self.signals += 1
        task = self._task
        in_loop = task is not None and not task.done()
        if self.signals == 1 and (in_loop or self.drain_outside_loop):
            self.announce("drain")
            if in_loop:
                task.get_loop().call_soon_threadsafe(self.drain.set)  # the loop's own callback: safe anywhere
            else:
                self.drain.set()  # nothing waits on it outside a loop: the command polls is_set()
            return
        if self.signals == 2 and in_loop:
            self.announce("cancel")
            task.cancel()
            task.get_loop().call_soon_threadsafe(lambda: None)  # wake a loop that waits in select()
            return
        self.announce("now")
        raise KeyboardInterrupt

    def run(self, awaitable: Awaitable[T]) -> T:
        """``asyncio.run(awaitable)`` under the escalation; raises ``KeyboardInterrupt`` if a signal stopped it,
        also when the awaitable drained and returned."""

        if self.requested:  # a signal came before the loop, and its KeyboardInterrupt was swallowed on the way:
            if asyncio.iscoroutine(awaitable):  # vLLM's engine start-up does that (its ZMQ socket context)
                awaitable.close()
            raise KeyboardInterrupt

        async def main() -> T:
            self._task = asyncio.current_task()
            try:
                return await awaitable
            finally:
                self._task = None

        try:
            result = asyncio.run(main())
        except asyncio.CancelledError:
            if self.requested:
                raise KeyboardInterrupt from None
            raise
        if self.requested:
            raise KeyboardInterrupt
        return result
