"""Continuous batching for an engine that is stepped (``vllm.LLM``): posts join the running batch as others finish.

The graph plans each post separately, from several worker threads at once during a benchmark run. One engine
thread owns the engine: it admits what was submitted (up to ``max_in_flight`` requests at a time), runs one engine
step (one decoding step of every request in flight, or the prefill of new ones), hands each finished request its
result, and repeats. A request never waits for a batch to finish, only for its own tokens; that is what an
OpenAI server does (``vllm serve``), and what waiting for whole ``LLM.chat`` batches did not (a batch took as long
as its longest answer while the cores idled on the finished ones).
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Hashable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Slot(Generic[T]):
    item: T
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class EngineLoop(Generic[T, R]):
    """``add(items) -> request ids`` puts requests into the engine; ``step() -> [(request id, result)]`` runs one
    engine step and returns the requests it finished. Both are called from the loop's thread only."""

    def __init__(self, add: Callable[[Sequence[T]], list[Hashable]], step: Callable[[], list[tuple[Hashable, R]]],
                 max_in_flight: int = 64, name: str = "engine-loop"):
        self.add, self.step, self.max_in_flight, self.name = add, step, max_in_flight, name
        self.admitted: list[int] = []  # requests admitted at each admission, for tests and logs
        self.peak_in_flight = 0
        self._incoming: deque[_Slot[T]] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, item: T) -> R:
        """Run ``item`` in the engine alongside whatever else is in flight; return its result or raise its error."""
        slot = _Slot(item)
        with self._wake:
            self._incoming.append(slot)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._wake.notify()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _take(self, room: int, wait: bool) -> list[_Slot[T]]:
        with self._wake:
            while wait and not self._incoming:
                self._wake.wait()
            return [self._incoming.popleft() for _ in range(min(room, len(self._incoming)))]

    def _run(self) -> None:
        in_flight: dict[Hashable, _Slot[T]] = {}
        while True:
            new = self._take(self.max_in_flight - len(in_flight), wait=not in_flight)
            if new:
                try:
                    ids = self.add([slot.item for slot in new])
                    in_flight.update(zip(ids, new, strict=True))
                    self.admitted.append(len(new))
                    self.peak_in_flight = max(self.peak_in_flight, len(in_flight))
                except BaseException as error:  # these callers get the error; the ones in flight go on
                    _fail(new, error)
            if not in_flight:
                continue
            try:
                for request_id, result in self.step():
                    slot = in_flight.pop(request_id)
                    slot.result = result
                    slot.done.set()
            except BaseException as error:  # every caller in flight gets the error, none hangs
                _fail(list(in_flight.values()), error)
                in_flight.clear()


def _fail(slots: Sequence[_Slot[Any]], error: BaseException) -> None:
    for slot in slots:
        slot.error = error
        slot.done.set()
