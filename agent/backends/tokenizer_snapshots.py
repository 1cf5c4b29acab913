"""A loaded tokenizer saved as a pickle under ``<cache_dir>/tokenizers/``, so that a later start skips rebuilding it.

Why: ``AutoTokenizer.from_pretrained`` builds Gemma 3's tokenizer (262,144 tokens, a 33 MB ``tokenizer.json``) by
parsing that file in Python twice and rebuilding the BPE from Python dicts: 2.7 s of a cold ``groundex extract``
on 2 cores. Unpickling the built tokenizer restores the same object (the Rust tokenizer from its own JSON, the
Python side as it was) in about 1.0 s.

A snapshot's name is a digest of the tokenizer files (path, size, modification time) and of the transformers and
tokenizers versions, so a changed tokenizer or library never reads a stale one; a snapshot that cannot be read
is rebuilt. Only local model directories are snapshotted (a hub id loads as usual). The pickles are written and
read by groundex only, in the user's own cache directory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "tokenizer.model", "chat_template.jinja")


def snapshot_path(model_dir: Path, cache_dir: Path) -> Path | None:
    """Where the snapshot of ``model_dir``'s tokenizer lives, or ``None`` when it has no ``tokenizer.json``."""
    import tokenizers
    import transformers

    if not (model_dir / "tokenizer.json").is_file():
        return None
    digest = hashlib.sha256(f"{transformers.__version__}|{tokenizers.__version__}|{model_dir.resolve()}".encode())
    for name in TOKENIZER_FILES:
        path = model_dir / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"|{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return cache_dir.expanduser() / "tokenizers" / f"{model_dir.name}-{digest.hexdigest()[:16]}.pickle"


def load_tokenizer(model_id: str, cache_dir: Path | None) -> Any:
    """``AutoTokenizer.from_pretrained(model_id)``, from its snapshot when there is one (made on the first load)."""
    from transformers import AutoTokenizer

    model_dir = Path(model_id).expanduser()
    snapshot = snapshot_path(model_dir, cache_dir) if cache_dir is not None and model_dir.is_dir() else None
    if snapshot is not None and snapshot.is_file():
        try:
            with snapshot.open("rb") as handle:
                return pickle.load(handle)
        except Exception as error:  # noqa: BLE001 - any unreadable snapshot is rebuilt, never fatal
            log.warning("tokenizer snapshot %s unreadable (%s): rebuilding it", snapshot, error)
    tokenizer = AutoTokenizer.from_pretrained(model_id)
    if snapshot is not None:
        _write(snapshot, tokenizer)
    return tokenizer


def _write(snapshot: Path, tokenizer: Any) -> None:
    """Write atomically (a temporary file renamed into place): a killed start leaves no half snapshot."""
    partial: Path | None = None
    try:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=snapshot.parent, delete=False, suffix=".partial") as handle:
            partial = Path(handle.name)
            pickle.dump(tokenizer, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, snapshot)
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as error:  # the tokenizer still works
        log.warning("tokenizer snapshot %s not written (%s)", snapshot, error)
        if partial is not None:
            partial.unlink(missing_ok=True)
