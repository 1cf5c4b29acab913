"""The checkpointer for chat threads: SQLite, so threads persist across restarts (batch runs use none).

The serializer is told exactly which of our state types it may rebuild from a checkpoint, so loading a
thread never constructs an arbitrary class named in the database.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver

from groundex.agent import schema, state


def _state_types() -> list[tuple[str, str]]:
    types = []
    for module in (schema, state):
        for name, value in vars(module).items():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                types.append((module.__name__, name))
    return types


def serializer() -> JsonPlusSerializer:
    return JsonPlusSerializer(allowed_msgpack_modules=_state_types())


def sqlite_checkpointer(path: Path) -> SqliteSaver:
    """A SQLite checkpointer on ``path`` (created if needed); safe to share between threads of one process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False)
    return SqliteSaver(connection, serde=serializer())
