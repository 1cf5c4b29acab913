"""Continuous batching: requests join the engine while others run, finish on their own, and errors reach callers."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from groundex.agent.backends.engine_loop import EngineLoop


class CountdownEngine:
    """A stepped engine whose request ``n`` needs ``n`` steps; it records which requests each step ran."""

    def __init__(self, step_s: float = 0.0):
        self.remaining: dict[int, int] = {}
        self.items: dict[int, int] = {}
        self.steps: list[set[int]] = []
        self.ids = itertools.count()
        self.step_s = step_s

    def add(self, items):
        ids = [next(self.ids) for _ in items]
        for request_id, item in zip(ids, items):
            self.remaining[request_id], self.items[request_id] = item, item
        return ids

    def step(self):
        time.sleep(self.step_s)
        self.steps.append({self.items[r] for r in self.remaining})
        for request_id in self.remaining:
            self.remaining[request_id] -= 1
        finished = [r for r, left in self.remaining.items() if left <= 0]
        for request_id in finished:
            del self.remaining[request_id]
        return [(r, self.items[r] * 10) for r in finished]


def test_a_short_request_joins_a_running_long_one_and_finishes_first():
    engine = CountdownEngine(step_s=0.01)
    loop = EngineLoop(engine.add, engine.step)
    finished_order = []

    def call(item):
        result = loop.submit(item)
        finished_order.append(item)
        return result

    with ThreadPoolExecutor(2) as pool:
        long = pool.submit(call, 40)
        while not engine.steps:  # the long request is running
            time.sleep(0.001)
        short = pool.submit(call, 3)
        assert short.result() == 30 and long.result() == 400
    assert finished_order == [3, 40]
    assert any(steps == {3, 40} for steps in engine.steps)  # they shared steps: one batch, joined mid-way
    assert len(engine.steps) < 40 + 3


def test_max_in_flight_holds_back_the_rest_until_a_request_finishes():
    engine = CountdownEngine()
    loop = EngineLoop(engine.add, engine.step, max_in_flight=3)
    start = threading.Barrier(7)

    def call(item):
        start.wait()
        return loop.submit(item)

    with ThreadPoolExecutor(7) as pool:
        results = list(pool.map(call, [2, 5, 1, 4, 3, 2, 6]))
    assert results == [20, 50, 10, 40, 30, 20, 60]
    assert max(len(steps) for steps in engine.steps) <= 3 and loop.peak_in_flight <= 3
    assert sum(loop.admitted) == 7


def test_an_engine_error_reaches_every_caller_in_flight_and_the_loop_goes_on():
    engine = CountdownEngine()
    failing = {"on": True}

    def step():
        if failing["on"]:
            failing["on"] = False
            engine.remaining.clear()
            raise RuntimeError("engine step failed")
        return engine.step()

    loop = EngineLoop(engine.add, step)
    with pytest.raises(RuntimeError, match="engine step failed"):
        loop.submit(2)
    assert loop.submit(2) == 20  # the next request runs normally

    def refuse(items):
        raise ValueError("prompt too long")

    refusing = EngineLoop(refuse, engine.step)
    with pytest.raises(ValueError, match="prompt too long"):
        refusing.submit(1)
