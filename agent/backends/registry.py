"""Build the configured planner backend (a langchain chat model that also knows its model family)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from langchain_core.language_models import BaseChatModel

from groundex.agent.backends.coordinates import family_from_name
from groundex.agent.backends.packaged_models import resolve_adapter, resolve_model
from groundex.agent.config import PlannerSettings
from groundex.tools.base import ToolSetupError


def _transformers(settings: PlannerSettings, cache_dir: Path) -> BaseChatModel:
    from groundex.agent.backends.transformers_backend import TransformersPlanner

    return TransformersPlanner(model_id=resolve_model(settings.model, cache_dir), adapter=resolve_adapter(settings.adapter), max_new_tokens=settings.max_new_tokens,
                               temperature=settings.temperature, min_pixels=settings.min_pixels,
                               max_pixels=settings.max_pixels)


def _vllm_server(settings: PlannerSettings, cache_dir: Path) -> BaseChatModel:
    from groundex.agent.backends.vllm_server import VllmServerPlanner

    if not settings.base_url:
        raise ToolSetupError("planner backend 'vllm-server' needs planner.base_url, e.g. http://127.0.0.1:8000/v1")
    family = family_from_name(settings.model) if settings.family == "auto" else settings.family
    return VllmServerPlanner(base_url=settings.base_url, served_model=settings.adapter or settings.model,
                             model_family=family, max_new_tokens=settings.max_new_tokens,
                             temperature=settings.temperature, timeout_s=settings.timeout_s,
                             max_retries=settings.max_retries, min_pixels=settings.min_pixels,
                             max_pixels=settings.max_pixels)


def _vllm_offline(settings: PlannerSettings, cache_dir: Path) -> BaseChatModel:
    from groundex.agent.backends.vllm_offline import VllmOfflinePlanner

    family = family_from_name(settings.model) if settings.family == "auto" else settings.family
    return VllmOfflinePlanner(model_id=resolve_model(settings.model, cache_dir), adapter=resolve_adapter(settings.adapter),
                              model_family=family, max_new_tokens=settings.max_new_tokens,
                              temperature=settings.temperature, kv_cache_bytes=settings.kv_cache_bytes)


def _spacy(settings: PlannerSettings, cache_dir: Path) -> BaseChatModel:
    from groundex.agent.backends.spacy_baseline import SpacyBaselinePlanner

    return SpacyBaselinePlanner(model_name=settings.model)


PLANNER_BACKENDS: dict[str, Callable[[PlannerSettings, Path], BaseChatModel]] = {
    "transformers": _transformers,
    "vllm-server": _vllm_server,
    "vllm-offline": _vllm_offline,
    "spacy": _spacy,
}


def build_planner(settings: PlannerSettings, cache_dir: Path) -> BaseChatModel:
    """``cache_dir`` (``Settings.cache_dir``) holds models converted from packages (``pypi:...`` model ids)."""
    return PLANNER_BACKENDS[settings.backend](settings, cache_dir.expanduser())
