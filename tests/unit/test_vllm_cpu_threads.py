"""planner.cpu_threads_bind for vllm-offline: 'all' names this process's cores as vLLM's variable takes them, the
variable is set only while the engine starts, and a value the user exported wins."""

from __future__ import annotations

import os

from groundex.agent.backends.vllm_offline import THREADS_BIND_VARIABLE, _threads_bind, cpu_cores
from groundex.agent.config import load_settings


def test_all_names_every_core_this_process_may_use():
    assert cpu_cores("all") == ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    assert cpu_cores("0-1") == "0-1" and cpu_cores(None) is None


def test_the_variable_is_set_while_the_engine_starts_and_restored(monkeypatch):
    monkeypatch.delenv(THREADS_BIND_VARIABLE, raising=False)
    with _threads_bind("0,1"):
        assert os.environ[THREADS_BIND_VARIABLE] == "0,1"
    assert THREADS_BIND_VARIABLE not in os.environ
    with _threads_bind(None):
        assert THREADS_BIND_VARIABLE not in os.environ


def test_a_value_the_user_exported_wins(monkeypatch):
    monkeypatch.setenv(THREADS_BIND_VARIABLE, "1")
    with _threads_bind("0,1"):
        assert os.environ[THREADS_BIND_VARIABLE] == "1"
    assert os.environ[THREADS_BIND_VARIABLE] == "1"


def test_the_cpu_vllm_profile_gives_the_worker_every_core():
    assert load_settings(profile="cpu-vllm", environ={}).active.planner.cpu_threads_bind == "all"
