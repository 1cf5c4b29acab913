"""Concurrent single requests become batched calls, each caller gets its own result or its batch's error."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from groundex.agent.backends.batching import MicroBatcher


def test_concurrent_requests_are_batched_and_answered_in_order():
    batcher = MicroBatcher(lambda items: [item * 10 for item in items], max_batch=16, window_s=0.2)
    start = threading.Barrier(8)

    def call(item):
        start.wait()
        return batcher.submit(item)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert results == [item * 10 for item in range(8)]
    assert sum(batcher.batch_sizes) == 8 and len(batcher.batch_sizes) < 8


def test_max_batch_splits_large_groups_and_errors_reach_every_caller():
    batcher = MicroBatcher(lambda items: [len(items)] * len(items), max_batch=3, window_s=0.2)
    with ThreadPoolExecutor(7) as pool:
        sizes = list(pool.map(batcher.submit, range(7)))
    assert max(sizes) <= 3 and sum(batcher.batch_sizes) == 7

    def fail(items):
        raise RuntimeError("engine down")

    failing = MicroBatcher(fail, window_s=0.05)
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(failing.submit, n) for n in range(3)]
    for future in futures:
        with pytest.raises(RuntimeError, match="engine down"):
            future.result()
