"""The LangGraph state machine: plan -> (one branch per locate_entity call) entail -> ground -> segment -> assemble.

Every turn enters at ``begin_turn`` (it clears the per-turn warnings) and is routed by its ``turn`` field
(``state.TurnInput``, the graph's input schema): a first turn plans; a follow-up turn of a chat thread starts at
``interpret`` instead, which applies a correction (then
``assemble``, or ``ground`` for one entity) or hands the message to ``plan``.

This file only wires; the work lives in ``agent/nodes``. The planner and tools arrive as the run's context
(a ``Toolbox``), so the same compiled graph serves every profile, Studio and the tests.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.types import Overwrite, Send

from groundex.agent.nodes.assemble import assemble
from groundex.agent.nodes.interpret import interpret
from groundex.agent.nodes.locate import entail, ground
from groundex.agent.nodes.plan import plan
from groundex.agent.nodes.segment import segment
from groundex.agent.state import ExtractionState, LocateTask, TurnInput
from groundex.agent.toolbox import Toolbox


def route_locate_calls(state: ExtractionState) -> list[Send] | str:
    """One ``entail`` branch per candidate the planner asked to locate; straight to ``assemble`` otherwise."""
    if not state.options.boxes or state.post.image_path is None:
        return "assemble"
    tasks = [Send("entail", LocateTask(c.call_id, c.entity, state.post.image_path))
             for c in state.candidates if c.call_id is not None]
    return tasks or "assemble"


def begin_turn(state: ExtractionState) -> dict:
    """Start a turn: the warnings of the thread's previous turn are not this turn's."""
    return {"warnings": Overwrite([])}


def route_turn(state: ExtractionState) -> str:
    """First turns plan; follow-up turns of a thread are interpreted first."""
    return "interpret" if state.is_follow_up else "plan"


def route_after_ground(state: ExtractionState) -> str:
    return "segment" if state.options.masks else "assemble"


def build_graph() -> StateGraph:
    graph = StateGraph(ExtractionState, input_schema=TurnInput, context_schema=Toolbox)
    graph.add_node("begin_turn", begin_turn)
    graph.add_node("interpret", interpret, destinations=("plan", "ground", "assemble"))
    graph.add_node("plan", plan)
    graph.add_node("entail", entail, destinations=("ground",))
    graph.add_node("ground", ground)
    graph.add_node("segment", segment)
    graph.add_node("assemble", assemble)
    graph.add_edge(START, "begin_turn")
    graph.add_conditional_edges("begin_turn", route_turn, ["interpret", "plan"])
    graph.add_conditional_edges("plan", route_locate_calls, ["entail", "assemble"])
    graph.add_conditional_edges("ground", route_after_ground, ["segment", "assemble"])
    graph.add_edge("segment", "assemble")
    graph.add_edge("assemble", END)
    return graph


def compile_graph(checkpointer=None):
    """The compiled graph; pass a checkpointer (e.g. SQLite) to keep chat threads."""
    return build_graph().compile(checkpointer=checkpointer)


graph = compile_graph()  # the module-level graph that langgraph.json exposes to `langgraph dev` / Studio
