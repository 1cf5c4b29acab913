"""Checking the planner's entities and regions against the post, the schema and the image.

Nothing here raises on model output: what cannot be used is dropped or repaired, with a warning that says so.
"""

from __future__ import annotations

import re
from typing import Sequence

from groundex.agent.contract import PlannedEntity
from groundex.agent.schema import Box, Entity, ImageSize, Post, Triple, TypeSchema
from groundex.agent.state import Candidate


def _occurrences(text: str, needle: str, ignore_case: bool) -> list[int]:
    """Start offsets of ``needle`` in ``text``; those standing as whole words (no letter or digit glued on
    either side) when there are any, else all of them ("Messi" in "Messi's" stands alone, "Al" in "Also" does not)."""
    flags = re.IGNORECASE if ignore_case else 0
    found = [m.start() for m in re.finditer(re.escape(needle), text, flags)]
    whole = [s for s in found if not (s > 0 and text[s - 1].isalnum() and needle[0].isalnum())
             and not (s + len(needle) < len(text) and text[s + len(needle)].isalnum() and needle[-1].isalnum())]
    return whole or found


def resolve_span(planned: PlannedEntity, post_text: str, after: int = 0) -> tuple[int, int] | None:
    """The character span of a planned entity: its offset if the text stands there; else the first occurrence
    of its text at or after ``after`` (the end of the entity listed before it: answers list entities in text
    order), else its one occurrence anywhere; exact matches first, then case-insensitive ones. ``None`` when
    absent or ambiguous."""
    needle = planned.text.strip()
    if not needle:
        return None
    if planned.start is not None and post_text[planned.start:planned.start + len(needle)] == needle:
        return planned.start, planned.start + len(needle)
    for ignore_case in (False, True):
        found = _occurrences(post_text, needle, ignore_case)
        later = [s for s in found if s >= after]
        chosen = later[0] if later else found[0] if len(found) == 1 else None
        if chosen is not None:
            return chosen, chosen + len(needle)
        if found:
            return None
    return None


def resolve_type(type_name: str, types: TypeSchema) -> str | None:
    """The schema's spelling of a type name (exact, else case-insensitive), or ``None``."""
    if type_name in types:
        return type_name
    matches = [name for name in types.names if name.lower() == type_name.strip().lower()]
    return matches[0] if len(matches) == 1 else None


def validate_entities(planned: Sequence[PlannedEntity], post: Post, types: TypeSchema) -> tuple[list[Candidate], list[str]]:
    """Planner entities -> candidates with real spans and schema types; the first of two on one span wins."""
    candidates: list[Candidate] = []
    warnings: list[str] = []
    taken: dict[tuple[int, int], Candidate] = {}
    cursor = 0  # the end of the last entity placed: the next one is looked for after it first
    for item in planned:
        span = resolve_span(item, post.text, cursor)
        if span is None:
            warnings.append(f"dropped {item.text!r}: not found in the post text (or only at several places "
                            "before the entity listed ahead of it)")
            continue
        cursor = span[1]
        type_name = resolve_type(item.type, types)
        if type_name is None:
            warnings.append(f"dropped {item.text!r}: type {item.type!r} is not in the schema ({', '.join(types.names)})")
            continue
        entity = Entity(post.text[span[0]:span[1]], span[0], span[1], type_name, item.description)
        if span in taken:
            previous = taken[span]
            if previous.entity.type != type_name:
                warnings.append(f"dropped {entity.text!r} as {type_name}: the span is already {previous.entity.type}")
            if previous.call_id is None and item.locate_call_id is not None:
                taken[span] = Candidate(previous.entity, item.locate_call_id)
                candidates[candidates.index(previous)] = taken[span]
            continue
        taken[span] = Candidate(entity, item.locate_call_id)
        candidates.append(taken[span])
    return candidates, warnings


def checked_box(box: Box | None, size: ImageSize, entity: Entity) -> tuple[Box | None, str | None]:
    """A box clipped to the image, or ``None`` with a warning when nothing of it is inside."""
    if box is None:
        return None, None
    clipped = box.clip(size)
    if clipped is None:
        return None, f"dropped the box of {entity.text!r}: {box.as_list()} lies outside the {size.width}x{size.height} image"
    return clipped, None


def sort_triples(triples: Sequence[Triple]) -> list[Triple]:
    return sorted(triples, key=lambda t: (t.entity.start, t.entity.end))
