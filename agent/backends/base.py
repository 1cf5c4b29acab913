"""The planner interface: what the graph and the toolbox may ask of a planner, checked when the toolbox is built.

Every planner is a langchain chat model that takes tools (``bind_tools`` + ``invoke``) and says whether it sees
the image (``multimodal``): that is the ``Planner`` protocol, the only thing the graph's nodes use. A planner that
can also answer the MLLM tools' questions about an image implements ``VisualQuestionAnswerer``
(``groundex.tools.base``: ``yes_probability`` and ``ask_box``). Both protocols are runtime-checkable, so
``build_toolbox`` refuses a profile whose tools need a capability its planner lacks, before any work starts.

``PlannerChatModel`` is the base class of the shipped backends; ``family`` tells the prompt how the planner's
boxes are to be read (``backends.coordinates``).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool

from groundex.agent.backends.coordinates import Family


@runtime_checkable
class Planner(Protocol):
    """What the graph needs of a planner: tools bound in OpenAI function format, and whether it sees images."""

    @property
    def multimodal(self) -> bool:
        """True when the planner is shown the post's image (a vision-language model)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable:
        """A runnable that answers a message list with an ``AIMessage`` (content + ``tool_calls``)."""


class PlannerChatModel(BaseChatModel):
    """The shipped planner backends' base class (it satisfies ``Planner``)."""

    @property
    def family(self) -> Family:
        raise NotImplementedError

    @property
    def multimodal(self) -> bool:
        return self.family != "text"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        """Tools in OpenAI function format, passed to ``_generate`` as ``tools=`` (and ``tool_choice=``)."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], **kwargs)
