"""groundex runtime: the data model, configuration, planner backends, the LangGraph graph and the CLI.

``__all__`` is the agent's public API: what ``groundex.eval``, ``groundex.finetune``, the benches and user code
import (``from groundex.agent import Extractor, Post, load_preset``). Names load lazily, on first use, so
importing one of them does not import the others' dependencies (torch, langgraph).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "errors": ("GroundexError",),
    "folders": ("RunFolderBusy", "RunFolderLock", "WriteFailure", "is_write_failure", "publish_folder", "recover_folder",
                "staging_folder", "write_failure"),
    "schema": ("AnnotatedPost", "Box", "Entity", "EntityType", "GoldTriple", "ImageSize", "Mask", "Post", "Prediction",
               "SchemaError", "Triple", "TypeSchema"),
    "records": ("RecordError", "decode_prediction", "encode_prediction"),
    "config": ("ConfigError", "PlannerSettings", "Settings", "load_settings"),
    "type_presets": ("PRESET_NAMES", "ZERO_SHOT_TYPES", "TypeSchemaError", "load_preset", "load_type_schema",
                     "person_type_names", "types_from_names"),
    "state": ("ExtractionOptions",),
    "extractor": ("ExtractionResult", "Extractor"),
    "toolbox": ("Toolbox", "build_toolbox"),
    "contract": ("UNREADABLE_ANSWER", "AnswerStyle", "PlannedEntity", "decision_offsets", "locate_result_text",
                 "planner_tools", "render_planner_answer", "resolve_answer_style"),
    "prompting": ("system_text", "user_text"),
    "encoding": ("IGNORE_INDEX", "ChatEncoder", "TrainingEncoding"),
    "backends.coordinates": ("QWEN_MAX_PIXELS", "QWEN_MIN_PIXELS", "auto_model_class", "family_from_model_type"),
    "backends.packaged_models": ("converted_dir", "is_packaged", "resolve_adapter", "resolve_model"),
    "backends.merged_models": ("merged_model",),
    "backends.precision": ("bf16_supported",),
    "overlay": ("draw_overlay", "save_overlay"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'groundex.agent' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"groundex.agent.{module}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from groundex.agent.backends.coordinates import (QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, auto_model_class,  # noqa: F401
                                                     family_from_model_type)
    from groundex.agent.backends.merged_models import merged_model  # noqa: F401
    from groundex.agent.backends.packaged_models import converted_dir, is_packaged, resolve_adapter, resolve_model  # noqa: F401
    from groundex.agent.backends.precision import bf16_supported  # noqa: F401
    from groundex.agent.config import ConfigError, PlannerSettings, Settings, load_settings  # noqa: F401
    from groundex.agent.contract import (UNREADABLE_ANSWER, AnswerStyle, PlannedEntity, decision_offsets,  # noqa: F401
                                         locate_result_text, planner_tools, render_planner_answer, resolve_answer_style)
    from groundex.agent.encoding import IGNORE_INDEX, ChatEncoder, TrainingEncoding  # noqa: F401
    from groundex.agent.errors import GroundexError  # noqa: F401
    from groundex.agent.folders import (RunFolderBusy, RunFolderLock, WriteFailure, is_write_failure,  # noqa: F401
                                        publish_folder, recover_folder, staging_folder, write_failure)
    from groundex.agent.extractor import ExtractionResult, Extractor  # noqa: F401
    from groundex.agent.overlay import draw_overlay, save_overlay  # noqa: F401
    from groundex.agent.prompting import system_text, user_text  # noqa: F401
    from groundex.agent.records import RecordError, decode_prediction, encode_prediction  # noqa: F401
    from groundex.agent.schema import (AnnotatedPost, Box, Entity, EntityType, GoldTriple, ImageSize, Mask, Post,  # noqa: F401
                                       Prediction, SchemaError, Triple, TypeSchema)
    from groundex.agent.state import ExtractionOptions  # noqa: F401
    from groundex.agent.toolbox import Toolbox, build_toolbox  # noqa: F401
    from groundex.agent.type_presets import (PRESET_NAMES, ZERO_SHOT_TYPES, TypeSchemaError, load_preset,  # noqa: F401
                                             load_type_schema, person_type_names, types_from_names)
