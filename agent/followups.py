"""Follow-up turns of a chat thread: what the user asked for, read from their message.

Corrections of the current result are read here, deterministically, and applied by the graph's ``interpret``
node without a planner call, so they work on every profile and change exactly the entity they name:

==========================================  ===============  ==========================================
the user writes                             ``kind``         the graph
==========================================  ===============  ==========================================
"Messi is not in the picture" / "... is     ``not_visible``  drops that entity's box (and mask)
not visible" / "... isn't in the photo"
"remove Messi" / "Messi is not an entity"   ``remove``       drops the entity
"Messi is a LOC" (a type of the schema)     ``retype``       changes its type
"the box for Messi is the man on the left"  ``reground``     grounds it again with that description
"also find brands" / "add types: x, y"      ``add_types``    adds the types and plans the post again
"use types: athlete, team, stadium"         ``set_types``    replaces the schema and plans again
anything else                               ``ask_planner``  goes to the planner with the thread history
==========================================  ===============  ==========================================

Entity names are matched against the thread's current entities by ``match_entity`` (exact, then
case-insensitive, then containment), so "messi" finds "Lionel Messi".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

from groundex.agent.schema import Entity

FollowUpKind = Literal["not_visible", "remove", "retype", "reground", "add_types", "set_types", "ask_planner"]
EDIT_KINDS: frozenset[str] = frozenset({"not_visible", "remove", "retype", "reground"})
SCHEMA_KINDS: frozenset[str] = frozenset({"add_types", "set_types"})


@dataclass(frozen=True)
class FollowUp:
    """One follow-up message, read. ``target`` is the entity as the user named it; ``description`` the
    referring expression for ``reground``; ``type_names`` the new types for ``add_types`` / ``set_types``."""

    text: str
    kind: FollowUpKind
    target: str | None = None
    new_type: str | None = None
    description: str | None = None
    type_names: tuple[str, ...] = ()


_PICTURE = r"(?:picture|image|photo|pic|frame)"
_NOT_VISIBLE = [
    re.compile(rf"^(?P<target>.+?) (?:is not|isn't|is not really|does not appear) (?:in|on) the {_PICTURE}$", re.I),
    re.compile(r"^(?P<target>.+?) (?:is not|isn't) (?:visible|shown|pictured|there)$", re.I),
    re.compile(rf"^(?:there is )?no (?P<target>.+?) in the {_PICTURE}$", re.I),
]
_REMOVE = [
    re.compile(r"^(?:remove|drop|delete|forget) (?:the entity )?(?P<target>.+)$", re.I),
    re.compile(r"^(?P<target>.+?) (?:is not|isn't) an? (?:entity|named entity|name)$", re.I),
]
_REGROUND = [
    re.compile(r"^(?:the )?box (?:for|of) (?P<target>.+?) (?:is|should be) (?P<description>.+)$", re.I),
    re.compile(r"^(?P<target>.+?) is (?P<description>(?:the|a|an) .*(?:on the|in the|at the|left|right|middle|center|centre).*)$", re.I),
]
_RETYPE = re.compile(r"^(?:the type of )?(?P<target>.+?) (?:is|should be) (?:an? |of type )?(?P<type>[\w-]+)$", re.I)
_SET_TYPES = re.compile(r"^(?:use|set|only) (?:the )?(?:entity )?types?\s*[:=]?\s*(?P<names>.+)$", re.I)
_ADD_TYPES = re.compile(r"^(?:also |please also )?(?:find|look for|add|extract)(?: the)?(?: entity)?(?: types?)?\s*[:=]?\s*(?P<names>.+?)(?: too| as well)?$", re.I)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().rstrip(".!").strip().strip("\"'“”")


def _singular(word: str) -> str:
    """'brands' -> 'brand', 'cities' -> 'city'; type names are singular nouns."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _type_names(listing: str, known: Sequence[str]) -> tuple[str, ...]:
    by_lower = {name.lower(): name for name in known}
    names = []
    for part in re.split(r",|;|\band\b|\bor\b", listing):
        word = _clean(part)
        if not word:
            continue
        if word.isupper():  # PER, LOC: an acronym type name as written
            names.append(word)
            continue
        names.append(by_lower.get(word.lower()) or by_lower.get(_singular(word.lower())) or _singular(word.lower()).replace(" ", "_"))
    return tuple(dict.fromkeys(names))


def parse_followup(text: str, type_names: Sequence[str]) -> FollowUp:
    """Read a follow-up message; ``type_names`` are the thread's current types (a retype must name one)."""
    message = _clean(text)
    if match := _SET_TYPES.match(message):
        return FollowUp(text, "set_types", type_names=_type_names(match["names"], type_names))
    for pattern in _NOT_VISIBLE:
        if match := pattern.match(message):
            return FollowUp(text, "not_visible", target=_clean(match["target"]))
    for pattern in _REGROUND:
        if match := pattern.match(message):
            return FollowUp(text, "reground", target=_clean(match["target"]), description=_clean(match["description"]))
    for pattern in _REMOVE:
        if match := pattern.match(message):
            return FollowUp(text, "remove", target=_clean(match["target"]))
    if (match := _RETYPE.match(message)) and match["type"].lower() in {t.lower() for t in type_names}:
        new_type = next(t for t in type_names if t.lower() == match["type"].lower())
        return FollowUp(text, "retype", target=_clean(match["target"]), new_type=new_type)
    if match := _ADD_TYPES.match(message):
        return FollowUp(text, "add_types", type_names=_type_names(match["names"], type_names))
    return FollowUp(text, "ask_planner")


def match_entity(target: str, entities: Sequence[Entity]) -> Entity | None:
    """The entity the user means: exact text, then case-insensitive, then one containing the other."""
    wanted = target.strip().lstrip("@#").lower()
    for test in (lambda e: e.text == target,
                 lambda e: e.text.lstrip("@#").lower() == wanted,
                 lambda e: wanted in e.text.lower() or e.text.lstrip("@#").lower() in wanted):
        found = [e for e in entities if test(e)]
        if found:
            return found[0]
    return None
