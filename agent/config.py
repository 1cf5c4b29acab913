"""Configuration: one pydantic object, read in one place.

Sources, later ones winning key by key: the shipped ``default_config.toml``; the user's TOML file (``--config``,
else ``$GROUNDEX_CONFIG``, else ``~/.config/groundex/config.toml`` when it exists); the environment
(``GROUNDEX_PROFILE``, ``GROUNDEX_CACHE_DIR``); CLI flags. No other module reads environment variables.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from groundex.agent.errors import GroundexError

ENV_CONFIG = "GROUNDEX_CONFIG"
ENV_PROFILE = "GROUNDEX_PROFILE"
ENV_CACHE_DIR = "GROUNDEX_CACHE_DIR"
USER_CONFIG = Path("~/.config/groundex/config.toml")


class ConfigError(GroundexError):
    """A configuration file or value that cannot be used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


WeightType = Literal["auto", "float32", "bfloat16"]  # planner.dtype


class PlannerSettings(_Strict):
    """Which model plans the extraction and how it is reached."""

    backend: Literal["vllm-server", "vllm-offline", "transformers", "spacy"] = Field(
        description="vllm-server: an OpenAI-compatible vLLM server; vllm-offline: vllm.LLM in process; "
        "transformers: the model in process (CPU, small models); spacy: the spaCy NER baseline (model = a spaCy package)"
    )
    model: str = Field(description="hub id or local directory of the base model")
    adapter: str | None = Field(
        default=None, description="LoRA adapter: a directory, builtin:<name> for one shipped with groundex, or for vllm-server "
                                   "the --lora-modules name"
    )
    family: Literal["auto", "qwen2-vl", "qwen2.5-vl", "text"] = Field(
        default="auto", description="how the model sees images and writes boxes; auto: from the model config or name"
    )
    answer_style: Literal["auto", "full", "lean"] = Field(
        default="auto", description="how the planner is asked to write its answer (agent/contract.py): full (offsets, "
        "descriptions), lean (text and type only, for text planners); auto: full if it sees images, else lean. "
        "It must be the style the adapter was trained on")
    base_url: str | None = Field(default=None, description="vllm-server only: e.g. http://127.0.0.1:8000/v1")
    min_pixels: int = Field(default=56 * 56, gt=0, description="Qwen-VL image resize bounds, in pixels of area")
    max_pixels: int = Field(default=28 * 28 * 1280, gt=0, description="(must match the server's processor settings)")
    max_new_tokens: int = Field(default=512, gt=0, description="longest planner answer, in tokens")
    temperature: float = Field(default=0.0, ge=0.0, description="0 = greedy")
    fast_decoding: bool = Field(
        default=True, description="transformers backend, text-only model, greedy: decode with groundex's own loop "
        "(merged LoRA, prompt-lookup drafts, an output layer trimmed to the prompt's words and the contract; "
        "agent/backends/text_decoding.py); false: transformers' generate")
    dtype: WeightType = Field(
        default="auto", description="transformers backend: the weights' float type. auto: bfloat16 on a GPU, and for "
        "the fast text decoder on a CPU with native bf16 matmuls (AVX512-BF16 / AMX: a decoding pass of Gemma 3 270M "
        "takes about half the time; dev MNER in README); float32 otherwise")
    merge_adapter: bool = Field(
        default=True, description="vllm-offline, and the transformers fast decoder: merge the adapter into the base "
        "weights once, into a copy under <cache_dir>/models/merged/ (keyed by a digest of the adapter), and load that. "
        "vLLM on CPU applies a LoRA per request about 8x slower (agent/backends/merged_models.py); false: vLLM applies "
        "the adapter per request, transformers merges it at every load")
    cpu_threads_bind: str | None = Field(
        default=None, description="vllm-offline on a CPU: the cores vLLM's model worker runs on (vLLM's "
        "VLLM_CPU_OMP_THREADS_BIND, e.g. '0-3'); 'all': every core this process may use. Unset: vLLM's default, which "
        "keeps one core for its scheduler. The environment variable, when set, wins")
    enforce_eager: bool = Field(
        default=False, description="vllm-offline only: run the model eagerly, without torch.compile / CUDA graphs (on "
        "2 CPU cores compiling Gemma 3 270M added about 55 s to the engine's start and no measured throughput)")
    timeout_s: float = Field(default=120.0, gt=0, description="per request, seconds")
    max_retries: int = Field(default=2, ge=0, description="retries of a failed request")
    kv_cache_gib: float | None = Field(
        default=None, gt=0, description="vllm-offline only: memory for the KV cache, GiB. Unset: vLLM's default, "
        "which reserves 92 % of the GPU, or on CPU of the NUMA node's memory and refuses to start when that much is "
        "not free")

    @property
    def kv_cache_bytes(self) -> int | None:
        """``kv_cache_gib`` in bytes, as vLLM takes it (``kv_cache_memory_bytes``); ``None`` when unset."""
        return round(self.kv_cache_gib * 2**30) if self.kv_cache_gib else None


class ToolSettings(_Strict):
    """One tool's backend (names are checked by that tool's registry) and its weights."""

    backend: str = Field(description="registry name of the backend, e.g. 'mllm', 'detector', 'sam'")
    model: str | None = Field(default=None, description="hub id, local directory or variant (e.g. 'vit_h')")
    checkpoint: Path | None = Field(default=None, description="weights file, for backends that load one")
    threshold: float | None = Field(default=None, description="decision threshold, for scoring backends")

    @field_validator("checkpoint")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None


class Profile(_Strict):
    """A named set of backends: what runs where."""

    description: str = ""
    planner: PlannerSettings
    entailment: ToolSettings
    grounding: ToolSettings
    segmentation: ToolSettings


class Settings(_Strict):
    """Everything configurable, after all sources are merged."""

    profile: str = Field(description="name of the active profile")
    cache_dir: Path = Field(description="converted models and cached per-image work")
    profiles: dict[str, Profile]

    @field_validator("cache_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def active(self) -> Profile:
        """The active profile."""
        return self.profiles[self.profile]


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ConfigError(f"config file {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from error


def load_settings(
    config_file: Path | None = None,
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every source into one ``Settings``.

    ``config_file`` and ``profile`` are the CLI flags (``None`` when not given); ``overrides`` is a nested
    mapping of further values (e.g. ``{"profiles": {"gpu": {"planner": {"base_url": ...}}}}``); ``environ``
    defaults to the process environment and exists so tests need not touch it.
    """
    environ = os.environ if environ is None else environ
    default_text = resources.files("groundex.agent").joinpath("default_config.toml").read_text(encoding="utf-8")
    merged = tomllib.loads(default_text)

    user_file = config_file or (Path(environ[ENV_CONFIG]) if environ.get(ENV_CONFIG) else None)
    if user_file is None and USER_CONFIG.expanduser().is_file():
        user_file = USER_CONFIG.expanduser()
    if user_file is not None:
        merged = _merge(merged, _read_toml(Path(user_file).expanduser()))

    if environ.get(ENV_PROFILE):
        merged["profile"] = environ[ENV_PROFILE]
    if environ.get(ENV_CACHE_DIR):
        merged["cache_dir"] = environ[ENV_CACHE_DIR]
    if overrides:
        merged = _merge(merged, overrides)
    if profile:
        merged["profile"] = profile

    try:
        settings = Settings.model_validate(merged)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False)
        )
        raise ConfigError(f"invalid configuration ({user_file or 'defaults'}): {problems}") from error
    if settings.profile not in settings.profiles:
        raise ConfigError(
            f"unknown profile {settings.profile!r}; profiles: {', '.join(sorted(settings.profiles))}"
        )
    return settings


DEFAULT_CACHE_DIR = Path("~/.cache/groundex")
ENV_VERBOSE = "GROUNDEX_VERBOSE"


def library_log_file(environ: Mapping[str, str] | None = None) -> Path:
    """Where library warnings and progress go when the terminal is kept quiet (``agent/cli/quiet.py``):
    ``<cache_dir>/logs/libraries.log``, with ``cache_dir`` from ``$GROUNDEX_CACHE_DIR`` or the default (read before
    any command parses its own ``--config``, so a cache_dir set only in a config file is not used here)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(ENV_CACHE_DIR) or DEFAULT_CACHE_DIR).expanduser() / "logs" / "libraries.log"


def verbose_requested(environ: Mapping[str, str] | None = None) -> bool:
    """``$GROUNDEX_VERBOSE`` set to 1/true/yes: library output stays on the terminal (as ``--verbose``)."""
    environ = os.environ if environ is None else environ
    return environ.get(ENV_VERBOSE, "").strip().lower() in ("1", "true", "yes")

