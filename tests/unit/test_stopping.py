"""Ctrl-C and SIGTERM stop a batch command in steps: drain, then cancel inside the event loop, then at once."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from groundex.agent.cli.stopping import StopSignals


def _send_later(number: int, delay_s: float) -> None:
    asyncio.get_running_loop().call_later(delay_s, os.kill, os.getpid(), number)


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_first_signal_drains_the_work_which_finishes_and_the_command_ends_as_interrupted(number):
    announced, finished = [], []

    async def work(stops: StopSignals) -> None:
        _send_later(number, 0.05)
        while not stops.drain.is_set():  # a runner starting item after item until asked to drain
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the items in flight finish
        finished.append(True)

    before = signal.getsignal(number)
    with pytest.raises(KeyboardInterrupt):
        with StopSignals(announced.append) as stops:
            stops.run(work(stops))
    assert announced == ["drain"] and finished == [True]
    assert signal.getsignal(number) is before


def test_a_second_signal_cancels_the_work_inside_the_loop():
    announced, cleanup = [], []

    async def work() -> str:
        _send_later(signal.SIGTERM, 0.05)
        _send_later(signal.SIGTERM, 0.15)
        try:
            await asyncio.sleep(30)  # an item that does not drain in time
            return "finished"
        finally:
            await asyncio.sleep(0)  # cleanup that needs the loop (LangGraph's error callbacks) still has it
            cleanup.append(asyncio.get_running_loop() is not None)

    with pytest.raises(KeyboardInterrupt):
        with StopSignals(announced.append) as stops:
            stops.run(work())
    assert announced == ["drain", "cancel"] and cleanup == [True] and stops.signals == 2


def test_a_run_without_signals_returns_its_result_and_a_signal_outside_the_loop_stops_at_once():
    async def work() -> str:
        return "finished"

    with pytest.raises(KeyboardInterrupt):
        with StopSignals() as stops:
            assert stops.run(work()) == "finished"
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler's KeyboardInterrupt ends the sleep at once
    assert stops.signals == 1 and not stops.drain.is_set()


def test_a_polling_command_drains_on_the_first_signal_outside_the_loop_and_stops_on_the_second():
    announced = []
    with StopSignals(announced.append, drain_outside_loop=True) as stops:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)
        assert stops.drain.is_set() and announced == ["drain"]  # a training loop sees it after its step
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert stops.signals == 2 and announced == ["drain", "now"]


def test_a_signal_whose_interrupt_was_swallowed_before_the_loop_still_stops_the_run():
    started = []

    async def work() -> None:
        started.append(True)

    with pytest.raises(KeyboardInterrupt):
        with StopSignals() as stops:
            try:  # what vLLM's engine start-up does with a KeyboardInterrupt (vllm.utils.network_utils.zmq_socket_ctx)
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except KeyboardInterrupt:
                pass
            stops.run(work())
    assert started == []
