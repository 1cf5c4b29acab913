"""Where an entity's short referring description comes from when building training data.

Gold annotations have none. ``TemplateDescriptions`` derives one deterministically ("Lionel Messi, a person");
``FileDescriptions`` reads expansions written elsewhere (e.g. by an LLM, as RiVEG does) from a JSONL file of
``{"id": <post id>, "start": <char>, "end": <char>, "description": "..."}`` and falls back to the template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from groundex.agent import Entity, GroundexError, Post

TYPE_NOUNS = {
    "PER": "a person", "LOC": "a place", "ORG": "an organization", "OTHER": "a named thing",
    "person": "a person", "location": "a place", "organization": "an organization", "building": "a building",
    "event": "an event", "art": "a creative work", "product": "a product", "other": "a named thing",
}


class DescriptionSource(Protocol):
    def describe(self, post: Post, entity: Entity) -> str:
        """A short referring expression for ``entity`` (gold type names, before any renaming)."""


class TemplateDescriptions:
    def describe(self, post: Post, entity: Entity) -> str:
        noun = TYPE_NOUNS.get(entity.type, "a " + entity.type.replace("_", " "))
        return f"{entity.text}, {noun}"


class FileDescriptions:
    def __init__(self, path: Path, fallback: DescriptionSource | None = None):
        self.fallback = fallback or TemplateDescriptions()
        self.by_span: dict[tuple[str, int, int], str] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError as error:
            raise GroundexError(f"description file {path} does not exist") from error
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self.by_span[(str(record["id"]), int(record["start"]), int(record["end"]))] = str(record["description"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise GroundexError(f"{path}:{number}: expected {{id, start, end, description}} ({error})") from error

    def describe(self, post: Post, entity: Entity) -> str:
        return self.by_span.get((post.id, entity.start, entity.end)) or self.fallback.describe(post, entity)
