"""A base model with a LoRA adapter merged into its weights, saved once under ``<cache_dir>/models/merged/``.

Why: vLLM on CPU applies a LoRA per request through its Punica CPU kernels, which cost more than the model itself.
The ``cpu-vllm`` planner planned 0.38 posts/s with the adapter applied per request and 3.1 posts/s from the same
weights merged (``bench/planner_concurrency.py``, 48 GMNER dev posts, 16 in flight, 2 cores). The transformers
fast decoder merges at load anyway; loading the merged copy skips PEFT and the merge on every start.

A copy's directory name carries a digest of the adapter's files and of the base's id, so a retrained adapter gets
a new copy and an old one is never served by mistake. The merge is computed in float32 and saved in the type the
weights run in (``precision``): float32 (bit-identical to merging at load), or bfloat16 (what vLLM and the bf16 fast
decoder run: the same rounding as loading the float32 copy in bf16, half the bytes to read at every start).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from groundex.agent.backends.coordinates import Family, auto_model_class
from groundex.agent.folders import build_folder_once
from groundex.tools.base import ToolSetupError

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
Precision = Literal["float32", "bfloat16"]


def merged_dir(base_model: str, adapter_dir: str, cache_dir: Path, precision: Precision = "float32") -> Path:
    """Where the merged copy of (``base_model``: hub id or directory, ``adapter_dir``: a PEFT LoRA directory)
    lives: ``<cache_dir>/models/merged/<base name>+<adapter name>-<12 hex digits>[-bf16]``."""
    adapter = Path(adapter_dir)
    digest = hashlib.sha256(str(Path(base_model).name).encode())
    found = False
    for name in ADAPTER_FILES:
        if (adapter / name).is_file():
            found = True
            digest.update(name.encode())
            digest.update((adapter / name).read_bytes())
    if not found:
        raise ToolSetupError(f"LoRA adapter {adapter_dir!r} has no adapter_config.json / adapter weights to merge")
    label = f"{Path(base_model).name}+{adapter.name}-{digest.hexdigest()[:12]}{'-bf16' if precision == 'bfloat16' else ''}"
    return cache_dir.expanduser() / "models" / "merged" / label


def merged_model(base_model: str, adapter_dir: str, family: Family, cache_dir: Path,
                 precision: Precision = "float32") -> str:
    """The merged copy's directory (a plain transformers / vLLM model directory with the base's tokenizer),
    merged and saved on first use (a few seconds for Gemma 3 270M; minutes and the model's size in disk for 7B)."""
    target = merged_dir(base_model, adapter_dir, cache_dir, precision)
    if not (target / "config.json").is_file():  # built in a staging folder, published by rename, once (folders.py)
        build_folder_once(target, lambda staging: _merge(base_model, adapter_dir, family, staging, precision))
    return str(target)


def _merge(base_model: str, adapter_dir: str, family: Family, staging: Path, precision: Precision) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoImageProcessor, AutoProcessor, AutoTokenizer

    try:
        base = auto_model_class(family).from_pretrained(base_model, dtype=torch.float32)
        model = PeftModel.from_pretrained(base, adapter_dir)
    except (OSError, ValueError) as error:
        raise ToolSetupError(f"LoRA adapter {adapter_dir!r} cannot be merged into {base_model!r}: {error}") from error
    merged = model.merge_and_unload().to(getattr(torch, precision))
    merged.save_pretrained(staging)
    AutoTokenizer.from_pretrained(base_model).save_pretrained(staging)
    if family != "text":
        try:  # the processor's image settings; transformers 5 needs torchvision for Qwen-VL processors
            AutoProcessor.from_pretrained(base_model).save_pretrained(staging)
        except (ValueError, TypeError, AttributeError, ImportError):
            AutoImageProcessor.from_pretrained(base_model).save_pretrained(staging)
