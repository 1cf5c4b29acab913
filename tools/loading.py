"""Loading weights once per process, with errors that say which weights were missing and how to get them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

from groundex.tools.base import ToolSetupError

T = TypeVar("T")

_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()


def load_pretrained(auto_class: Any, model_id: str, purpose: str, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(model_id)``, cached per (class, id) for the life of the process.

    A missing local directory, or a hub id that cannot be fetched (no network, no local cache), becomes a
    ``ToolSetupError`` naming the id, the purpose and how to provide the weights.
    """
    def load() -> Any:
        looks_local = model_id.startswith((".", "/", "~")) or Path(model_id).expanduser().exists()
        if looks_local and not Path(model_id).expanduser().exists():
            raise ToolSetupError(f"{purpose}: model directory {model_id} does not exist")
        try:
            return auto_class.from_pretrained(str(Path(model_id).expanduser()) if looks_local else model_id, **kwargs)
        except OSError as error:
            raise ToolSetupError(
                f"{purpose}: cannot load {model_id!r} ({str(error).splitlines()[0]}). Download it on a machine with "
                f"network access (e.g. `huggingface-cli download {model_id} --local-dir DIR`) and set the model to DIR"
            ) from error

    return cached((f"{auto_class.__module__}.{auto_class.__name__}", model_id), load)


def inference_device() -> Any:
    """Where the vision tools run: the first CUDA device when torch sees one, else the CPU (``torch.device``).
    ``CUDA_VISIBLE_DEVICES`` chooses or hides GPUs, as for any torch program."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def cached(key: tuple[str, str], build: Callable[[], T]) -> T:
    """Build a heavy object once per key for the life of the process (weights are read once, then reused)."""
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    built = build()
    with _cache_lock:
        return _cache.setdefault(key, built)
