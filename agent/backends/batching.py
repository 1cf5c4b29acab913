"""Collecting concurrent single requests into batched calls (for engines that batch, such as ``vllm.LLM``).

The graph plans each post separately, from several worker threads at once during a benchmark run. The first
request to arrive becomes the leader: it waits ``window_s`` for others, runs one batched call for up to
``max_batch`` pending requests, hands each caller its result, and repeats until nothing is pending.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Slot(Generic[T]):
    item: T
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class MicroBatcher(Generic[T, R]):
    def __init__(self, run_batch: Callable[[Sequence[T]], Sequence[R]], max_batch: int = 32, window_s: float = 0.05):
        self.run_batch, self.max_batch, self.window_s = run_batch, max_batch, window_s
        self.batch_sizes: list[int] = []  # one entry per batched call, for tests and logs
        self._pending: list[_Slot[T]] = []
        self._leading = False
        self._lock = threading.Lock()

    def submit(self, item: T) -> R:
        """Run ``item`` as part of a batch and return its result (or raise its batch's error)."""
        slot = _Slot(item)
        with self._lock:
            self._pending.append(slot)
            lead = not self._leading
            self._leading = self._leading or lead
        if lead:
            self._lead()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _lead(self) -> None:
        time.sleep(self.window_s)
        while True:
            with self._lock:
                batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
                if not batch:
                    self._leading = False
                    return
            self.batch_sizes.append(len(batch))
            try:
                results = self.run_batch([slot.item for slot in batch])
                for slot, result in zip(batch, results, strict=True):
                    slot.result = result
            except BaseException as error:  # every caller of the batch gets the error, none hangs
                for slot in batch:
                    slot.error = error
            for slot in batch:
                slot.done.set()
