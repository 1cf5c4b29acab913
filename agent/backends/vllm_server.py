"""The planner behind a vLLM OpenAI-compatible server (the GPU profile's default), through langchain-openai.

Start the server with our chat template so that tools are rendered exactly as in fine-tuning::

    vllm serve Qwen/Qwen2.5-VL-7B-Instruct --enable-lora --lora-modules groundex=<adapter dir> \\
        --enable-auto-tool-choice --tool-call-parser hermes --chat-template <groundex>/prompts/templates/chat_template.jinja

The served model name is the adapter's ``--lora-modules`` name when an adapter is configured, else the model.
Images go as base64 data URLs; text-only models get none.
"""

from __future__ import annotations

import math
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from PIL import Image
from pydantic import PrivateAttr

from groundex.agent.backends.base import PlannerChatModel
from groundex.agent.backends.coordinates import (
    QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, Family, box_to_original_pixels, model_input_size)
from groundex.agent.backends.messages import inline_images, png_block
from groundex.agent.backends.parsing import parse_box_answer
from groundex.agent.encoding import END_OF_TURN
from groundex.agent.errors import GroundexError
from groundex.agent.schema import Box
from groundex.prompts import chat_template_path
from groundex.tools.images import image_size


class PlannerUnavailable(GroundexError):
    """The planner server cannot be reached or refused the request."""


class VllmServerPlanner(PlannerChatModel):
    base_url: str
    served_model: str
    model_family: Family
    max_new_tokens: int = 512
    temperature: float = 0.0
    timeout_s: float = 120.0
    max_retries: int = 2
    min_pixels: int = QWEN_MIN_PIXELS
    max_pixels: int = QWEN_MAX_PIXELS
    _checked: bool = PrivateAttr(default=False)

    @property
    def _llm_type(self) -> str:
        return "groundex-vllm-server"

    @property
    def family(self) -> Family:
        return self.model_family

    def _start_hint(self) -> str:
        return (f"no planner at {self.base_url}: start it with `vllm serve <model> --enable-lora --lora-modules "
                f"{self.served_model}=<adapter> --enable-auto-tool-choice --tool-call-parser hermes "
                f"--chat-template {chat_template_path()}`, or set "
                "the profile's planner.base_url")

    def check_reachable(self) -> None:
        """Fail early and clearly when no server answers, or when it does not serve ``served_model``."""
        if self._checked:
            return
        try:
            response = httpx.get(f"{self.base_url.rstrip('/')}/models", timeout=min(self.timeout_s, 10.0))
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise PlannerUnavailable(f"{self._start_hint()} ({error.__class__.__name__})") from error
        served = [entry["id"] for entry in response.json().get("data", [])]
        if self.served_model not in served:
            raise PlannerUnavailable(f"the server at {self.base_url} serves {served}, not {self.served_model!r}: "
                                     "check the profile's planner.adapter / planner.model")
        self._checked = True

    def _chat(self, **overrides: Any):
        from langchain_openai import ChatOpenAI

        # text planners render the chat template's text-only form (no image slots, short tool signatures)
        extra_body = None if self.multimodal else {"chat_template_kwargs": {"text_only": True}}
        return ChatOpenAI(model=self.served_model, base_url=self.base_url, api_key="EMPTY",
                          timeout=self.timeout_s, max_retries=self.max_retries, extra_body=extra_body,
                          temperature=self.temperature, max_tokens=self.max_new_tokens, stop=[END_OF_TURN],
                          **overrides)

    def _call(self, chat: Any, messages: list[BaseMessage]) -> AIMessage:
        import openai
        from pydantic import ValidationError

        self.check_reachable()
        try:
            return chat.invoke(inline_images(messages, keep_images=self.multimodal))
        except ValidationError as error:  # e.g. tool-call arguments that are JSON but not an object
            return AIMessage(content="", response_metadata={"problems": [
                f"the server's answer could not be read as a message: {error.errors(include_url=False)[0]['msg']}"]})
        except openai.APIConnectionError as error:
            raise PlannerUnavailable(self._start_hint()) from error
        except openai.APIStatusError as error:
            raise PlannerUnavailable(f"the planner server at {self.base_url} refused the request: "
                                     f"{error.status_code} {str(error.message)[:300]}") from error

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, tools: list[dict] | None = None,
                  **kwargs: Any) -> ChatResult:
        chat = self._chat()
        if tools:
            chat = chat.bind_tools(tools, tool_choice=kwargs.get("tool_choice"))
        reply = self._call(chat, messages)
        problems = [*reply.response_metadata.get("problems", []),
                    *(f"unreadable tool call: {c.get('error')}" for c in reply.invalid_tool_calls)]
        if tools and kwargs.get("tool_choice") not in (None, "auto", "none") and not reply.tool_calls and not problems:
            # a required call that did not come back whole (e.g. its arguments were cut at max_new_tokens)
            problems.append(f"a tool call was required but none came back (finish reason: "
                            f"{reply.response_metadata.get('finish_reason', 'unknown')})")
        message = AIMessage(content=reply.content, tool_calls=reply.tool_calls,
                            response_metadata={**reply.response_metadata, "problems": problems})
        return ChatResult(generations=[ChatGeneration(message=message)])

    # -- the MLLM tools' questions ------------------------------------------------------------------------
    def _question(self, image: Image.Image, question: str) -> list[BaseMessage]:
        return [HumanMessage(content=[png_block(image), {"type": "text", "text": question}])]

    def yes_probability(self, image: Image.Image, question: str) -> float:
        reply = self._call(self._chat(max_tokens=1, logprobs=True, top_logprobs=10), self._question(image, question))
        candidates = (reply.response_metadata.get("logprobs") or {}).get("content") or []
        if not candidates:
            text = str(reply.content).strip().lower()
            return 1.0 if text.startswith("yes") else 0.0
        yes = no = 0.0
        for option in candidates[0].get("top_logprobs", []):
            word = option["token"].strip().lower()
            if word == "yes":
                yes += math.exp(option["logprob"])
            elif word == "no":
                no += math.exp(option["logprob"])
        return yes / (yes + no) if yes + no > 0 else 0.5

    def ask_box(self, image: Image.Image, question: str) -> Box | None:
        reply = self._call(self._chat(), self._question(image, question))
        coordinates = parse_box_answer(str(reply.content))
        if coordinates is None or not self.multimodal:
            return None
        original = image_size(image)
        seen = model_input_size(original, self.min_pixels, self.max_pixels) if self.model_family == "qwen2.5-vl" else None
        return box_to_original_pixels(coordinates, self.model_family, original, seen)
