"""The planner interface: a langchain chat model that takes tools and says how it sees images.

The graph talks to every backend through this class only (``bind_tools`` + ``invoke``); ``family`` tells the
prompt whether the planner sees the image and how its boxes are to be read.
"""

from __future__ import annotations

from typing import Any, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.utils.function_calling import convert_to_openai_tool

from groundex.agent.backends.coordinates import Family


class PlannerChatModel(BaseChatModel):
    @property
    def family(self) -> Family:
        raise NotImplementedError

    @property
    def multimodal(self) -> bool:
        return self.family != "text"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        """Tools in OpenAI function format, passed to ``_generate`` as ``tools=`` (and ``tool_choice=``)."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)
