"""A chat session over persistent threads: what the terminal chat and the web app share.

A thread is one post (text + image) and its conversation; it lives in the SQLite checkpointer
(``<cache_dir>/threads.sqlite`` unless configured otherwise), so it survives restarts. The first message of a
thread is the post's text; later messages are follow-ups (``agent.followups``). Changing the image, the types or
the masks option re-extracts the thread's post from the start.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from groundex.agent.errors import GroundexError
from groundex.agent.extractor import ExtractionResult, Extractor
from groundex.agent.records import encode_prediction
from groundex.agent.schema import Post, Prediction, TypeSchema
from groundex.agent.state import ExtractionOptions, ExtractionState

THREADS_FILE = "threads.sqlite"


@dataclass(frozen=True)
class ThreadSummary:
    """One stored thread, for listings: its id, the post's text and image, and how many entities it has."""

    thread_id: str
    text: str
    image_path: Path | None
    entities: int
    turns: int  # user messages: the post and its follow-ups


@dataclass(frozen=True)
class TurnOutcome:
    """What one chat turn produced: the thread's current result, this turn's warnings and the assistant's reply
    (a correction's acknowledgement; empty on a planning turn)."""

    result: ExtractionResult
    reply: str = ""


def list_threads(extractor: Extractor) -> list[ThreadSummary]:
    """Every thread in the checkpointer, most recently updated first."""
    checkpointer = extractor.graph.checkpointer
    if checkpointer is None:
        raise GroundexError("listing threads needs a checkpointer")
    seen: dict[str, None] = {}
    for checkpoint in checkpointer.list(None):
        seen.setdefault(checkpoint.config["configurable"]["thread_id"], None)
    summaries = []
    for thread_id in seen:
        state = extractor.thread_state(thread_id)
        if state is None:
            continue
        entities = len(state.result.triples) if state.result else 0
        turns = sum(m.type == "human" for m in state.messages)
        summaries.append(ThreadSummary(thread_id, state.post.text, state.post.image_path, entities, turns))
    return summaries


def new_thread_id() -> str:
    return uuid.uuid4().hex[:10]


class ChatSession:
    """One user's view of one thread at a time. ``types`` and ``options`` apply to the next extraction."""

    def __init__(self, extractor: Extractor, types: TypeSchema, options: ExtractionOptions = ExtractionOptions(),
                 thread_id: str | None = None, image_path: Path | None = None):
        self.extractor, self.types, self.options = extractor, types, options
        self.thread_id = thread_id or new_thread_id()
        self.image_path = image_path
        self._adopt(self.state())  # resuming: the thread's own post, types and options win

    def state(self) -> ExtractionState | None:
        return self.extractor.thread_state(self.thread_id)

    @property
    def started(self) -> bool:
        return self.state() is not None

    @property
    def prediction(self) -> Prediction | None:
        state = self.state()
        return state.result if state else None

    def send(self, message: str) -> TurnOutcome:
        """The post's text on a new thread, a follow-up on a started one."""
        if not message.strip():
            raise GroundexError("the message is empty")
        state = self.state()
        if state is None:
            post = Post(self.image_path.stem if self.image_path else self.thread_id, message.strip(),
                        image_path=self.image_path)
            return TurnOutcome(self.extractor.extract(post, self.types, self.options, self.thread_id))
        result = self.extractor.follow_up(self.thread_id, message)
        last = self.state().messages[-1]
        return TurnOutcome(result, str(last.content) if last.type == "ai" and not last.tool_calls else "")

    def _rerun(self) -> TurnOutcome | None:
        state = self.state()
        if state is None:
            return None
        post = replace(state.post, image_path=self.image_path, image_size=None)
        return TurnOutcome(self.extractor.extract(post, self.types, self.options, self.thread_id))

    def set_image(self, image_path: Path) -> TurnOutcome | None:
        """Use another image; a started thread's post is extracted again with it."""
        self.image_path = image_path
        return self._rerun()

    def set_types(self, types: TypeSchema) -> TurnOutcome | None:
        self.types = types
        return self._rerun()

    def set_masks(self, masks: bool) -> TurnOutcome | None:
        self.options = replace(self.options, masks=masks)
        return self._rerun()

    def switch(self, thread_id: str | None = None) -> None:
        """Go to another stored thread, or to a new one (``None``)."""
        if thread_id is not None and self.extractor.thread_state(thread_id) is None:
            known = ", ".join(t.thread_id for t in list_threads(self.extractor)) or "none"
            raise GroundexError(f"no thread {thread_id!r} (threads: {known})")
        self.thread_id = thread_id or new_thread_id()
        self.image_path = None
        self._adopt(self.state())

    def _adopt(self, state: ExtractionState | None) -> None:
        """Take a stored thread's types, options and image as the session's own."""
        if state is not None:
            self.types, self.options, self.image_path = state.types, state.options, state.post.image_path

    def save(self, path: Path) -> Path:
        """Write the thread's prediction (the JSON line format of ``groundex eval``, pretty-printed)."""
        prediction = self.prediction
        if prediction is None:
            raise GroundexError("nothing to save yet: send the post's text first")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(encode_prediction(prediction), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path
