"""SIGTERM stops a command like Ctrl-C: inside the event loop by cancelling it cleanly, outside it at once."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from groundex.agent.cli.stopping import SigtermStops


def test_sigterm_during_the_loop_cancels_the_work_inside_the_loop_and_ends_as_keyboard_interrupt():
    announced, cleanup = [], []

    async def work() -> str:
        asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
        try:
            await asyncio.sleep(30)
            return "finished"
        finally:
            await asyncio.sleep(0)  # cleanup that needs the loop (LangGraph's error callbacks) still has it
            cleanup.append(asyncio.get_running_loop() is not None)

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with SigtermStops(lambda: announced.append(True)) as stops:
            stops.run(work())
    assert stops.requested and announced == [True] and cleanup == [True]
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_run_without_sigterm_returns_its_result_and_sigterm_outside_the_loop_stops_at_once():
    async def work() -> str:
        return "finished"

    with pytest.raises(KeyboardInterrupt):
        with SigtermStops() as stops:
            assert stops.run(work()) == "finished"
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler's KeyboardInterrupt ends the sleep at once
    assert not stops.requested
