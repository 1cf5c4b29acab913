"""A quiet terminal: what the libraries print (transformers' weight-loading bars, FutureWarnings, vLLM's engine
log) goes to a log file, so a user sees groundex's own output and progress bars only; ``--verbose`` (or
``$GROUNDEX_VERBOSE=1``) leaves the libraries as they are.

It must run before transformers, huggingface_hub or vLLM are imported: they read their switches at import time
(``HF_HUB_DISABLE_PROGRESS_BARS`` and ``TQDM_DISABLE`` silence the tqdm bars of transformers, the hub, the GGUF
conversion and vLLM; ``VLLM_CONFIGURE_LOGGING=0`` makes vLLM log through the standard logging tree instead of its
own stdout handler; ``TRANSFORMERS_VERBOSITY`` keeps transformers' own stderr handler to errors). Python warnings and every library logger reach the root
logger, whose only handler is the log file (opened on the first record).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

# what the libraries read at import time; a value the user exported wins
LIBRARY_SWITCHES = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1", "VLLM_CONFIGURE_LOGGING": "0",
                    "TRANSFORMERS_VERBOSITY": "error", "TOKENIZERS_PARALLELISM": "false"}


def quiet_libraries(log_file: Path) -> None:
    """Send library output to ``log_file`` (appended; its folder made on the first record)."""
    for name, value in LIBRARY_SWITCHES.items():
        os.environ.setdefault(name, value)
    handler = _LazyFileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # warnings.warn(...) -> the "py.warnings" logger -> the file


class _LazyFileHandler(logging.FileHandler):
    """A file handler that makes its folder when it first writes, and never fails a command over its log."""

    def __init__(self, path: Path):
        super().__init__(path, mode="a", encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:  # a full disk must not end a run over a log line
        pass
