"""The vllm-server backend says clearly when no server is there (no vLLM needed for this)."""

from __future__ import annotations

import socket

import pytest
from langchain_core.messages import HumanMessage

from groundex.agent.backends.registry import build_planner
from groundex.agent.backends.vllm_server import PlannerUnavailable
from groundex.agent.config import PlannerSettings
from groundex.tools.base import ToolSetupError


def test_unreachable_server_names_the_url_and_how_to_start_it(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again on exit: nobody listens there
    planner = build_planner(PlannerSettings(backend="vllm-server", model="Qwen/Qwen2.5-VL-7B-Instruct",
                                            adapter="groundex", base_url=f"http://127.0.0.1:{port}/v1", timeout_s=5),
                            tmp_path)
    with pytest.raises(PlannerUnavailable, match=rf"no planner at http://127.0.0.1:{port}/v1: start it with `vllm serve"):
        planner.invoke([HumanMessage("hi")])


def test_vllm_server_needs_a_base_url(tmp_path):
    with pytest.raises(ToolSetupError, match="base_url"):
        build_planner(PlannerSettings(backend="vllm-server", model="m"), tmp_path)
