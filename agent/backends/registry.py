"""Build the configured planner backend (a ``PlannerChatModel`` that also knows its model family).

Each backend declares here what it can do beyond planning (``PlannerBackend.answers_image_questions``), so the
toolbox can refuse an impossible profile before the planner's weights load (``agent.toolbox``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from groundex.agent.backends.base import PlannerChatModel
from groundex.agent.backends.coordinates import Family, family_from_name
from groundex.agent.backends.packaged_models import resolve_adapter, resolve_model
from groundex.agent.config import PlannerSettings
from groundex.tools.base import ToolSetupError


def configured_family(settings: PlannerSettings) -> Family:
    """``planner.family``, or the family read from the model's name when it is ``auto``."""
    return family_from_name(settings.model) if settings.family == "auto" else settings.family


def _transformers(settings: PlannerSettings, cache_dir: Path) -> PlannerChatModel:
    from groundex.agent.backends.text_decoding import DecodingOptions
    from groundex.agent.backends.transformers_backend import TransformersPlanner

    # in process, the model's own config names its family; planner.family overrides it when set
    return TransformersPlanner(model_id=resolve_model(settings.model, cache_dir), adapter=resolve_adapter(settings.adapter),
                               family_override=None if settings.family == "auto" else settings.family,
                               max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                               min_pixels=settings.min_pixels, max_pixels=settings.max_pixels,
                               decoding=DecodingOptions() if settings.fast_decoding else None,
                               cache_dir=cache_dir, merge_adapter=settings.merge_adapter, dtype=settings.dtype)


def _vllm_server(settings: PlannerSettings, cache_dir: Path) -> PlannerChatModel:
    from groundex.agent.backends.vllm_server import VllmServerPlanner

    if not settings.base_url:
        raise ToolSetupError("planner backend 'vllm-server' needs planner.base_url, e.g. http://127.0.0.1:8000/v1")
    return VllmServerPlanner(base_url=settings.base_url, served_model=settings.adapter or settings.model,
                             model_family=configured_family(settings), max_new_tokens=settings.max_new_tokens,
                             temperature=settings.temperature, timeout_s=settings.timeout_s,
                             max_retries=settings.max_retries, min_pixels=settings.min_pixels,
                             max_pixels=settings.max_pixels)


def _vllm_offline(settings: PlannerSettings, cache_dir: Path) -> PlannerChatModel:
    from groundex.agent.backends.vllm_offline import VllmOfflinePlanner

    family = configured_family(settings)
    model, adapter = resolve_model(settings.model, cache_dir), resolve_adapter(settings.adapter)
    if adapter and settings.merge_adapter:  # vLLM serves one merged model: no LoRA kernels per request
        from groundex.agent.backends.merged_models import merged_model

        # bf16: the type vLLM runs it in (on CPU and GPU); half the bytes of a float32 copy to read at each start
        model, adapter = merged_model(model, adapter, family, cache_dir, "bfloat16"), None
    return VllmOfflinePlanner(model_id=model, adapter=adapter, model_family=family, max_new_tokens=settings.max_new_tokens,
                              temperature=settings.temperature, kv_cache_bytes=settings.kv_cache_bytes,
                              enforce_eager=settings.enforce_eager, cpu_threads_bind=settings.cpu_threads_bind)


def _spacy(settings: PlannerSettings, cache_dir: Path) -> PlannerChatModel:
    from groundex.agent.backends.spacy_baseline import SpacyBaselinePlanner

    return SpacyBaselinePlanner(model_name=settings.model)


@dataclass(frozen=True)
class PlannerBackend:
    """A planner backend: how to build it, and whether it implements ``VisualQuestionAnswerer``
    (``yes_probability`` / ``ask_box``, which the ``mllm`` entailment and grounding tools ask through) when its
    model is multimodal."""

    build: Callable[[PlannerSettings, Path], PlannerChatModel]
    answers_image_questions: bool


PLANNER_BACKENDS: dict[str, PlannerBackend] = {
    "transformers": PlannerBackend(_transformers, answers_image_questions=True),
    "vllm-server": PlannerBackend(_vllm_server, answers_image_questions=True),
    # vllm.LLM batches planning; the tools' single questions go to vllm-server or transformers instead
    "vllm-offline": PlannerBackend(_vllm_offline, answers_image_questions=False),
    "spacy": PlannerBackend(_spacy, answers_image_questions=False),
}


def build_planner(settings: PlannerSettings, cache_dir: Path) -> PlannerChatModel:
    """``cache_dir`` (``Settings.cache_dir``) holds models converted from packages (``pypi:...`` model ids)."""
    return PLANNER_BACKENDS[settings.backend].build(settings, cache_dir.expanduser())
