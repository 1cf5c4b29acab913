"""Entity-type schemas: the shipped presets (``presets/*.toml``) and user files.

A schema file is TOML::

    name = "my-types"
    [[types]]
    name = "dish"
    description = "a named dish or drink"
    group = "product"        # optional coarse group

A plain text file with one ``name: description`` (or bare ``name``) per line is accepted too, and so is a
comma-separated list of names on the command line (``--types PER,LOC``), whose descriptions come from a
preset that defines those names, else stay empty.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from groundex.agent.errors import GroundexError
from groundex.agent.schema import EntityType, SchemaError, TypeSchema

PRESET_NAMES = ("gmner", "fmnerg", "fmnerg-coarse", "fmnerg-seen", "fmnerg-zero-shot")

# The FMNERG fine types the shipped CPU adapter never saw in training, under any name, for zero-shot evaluation:
# frequent ones (politician 843 train mentions, city 613, company 479) and rare ones (magazine 38, continent 22),
# from 6 of the 8 groups: 2,828 of the 11,779 train mentions. "fmnerg-seen" is the 41 others.
ZERO_SHOT_TYPES = ("politician", "city", "company", "film_and_television_works", "news_agency", "park", "award",
                   "software", "magazine", "continent")


class TypeSchemaError(GroundexError):
    """A type list or type file that cannot be read."""


def _read_preset_toml(file_name: str) -> dict:
    text = resources.files("groundex.agent").joinpath("presets", file_name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _schema_from_toml(document: dict, source: str) -> TypeSchema:
    try:
        types = tuple(
            EntityType(name=entry["name"], description=entry.get("description", ""), group=entry.get("group"))
            for entry in document["types"]
        )
        return TypeSchema(name=document.get("name", source), types=types)
    except (KeyError, TypeError) as error:
        raise TypeSchemaError(f"{source}: every [[types]] entry needs a 'name' ({error})") from error
    except SchemaError as error:
        raise TypeSchemaError(f"{source}: {error}") from error


def load_preset(name: str) -> TypeSchema:
    """A shipped schema: ``gmner`` (PER/LOC/ORG/OTHER), ``fmnerg`` (51 fine types), ``fmnerg-coarse`` (8),
    ``fmnerg-zero-shot`` (the 10 fine types of ``ZERO_SHOT_TYPES``) and ``fmnerg-seen`` (the other 41)."""
    if name == "gmner":
        return _schema_from_toml(_read_preset_toml("gmner.toml"), "gmner preset")
    if name in ("fmnerg-seen", "fmnerg-zero-shot"):
        fine = load_preset("fmnerg")
        held = name == "fmnerg-zero-shot"
        return TypeSchema(name=name, types=tuple(t for t in fine if (t.name in ZERO_SHOT_TYPES) == held))
    if name in ("fmnerg", "fmnerg-coarse"):
        document = _read_preset_toml("fmnerg.toml")
        if name == "fmnerg":
            return _schema_from_toml(document, "fmnerg preset")
        groups = tuple(EntityType(group, description) for group, description in document["groups"].items())
        return TypeSchema(name="fmnerg-coarse", types=groups)
    raise TypeSchemaError(f"unknown type preset {name!r}; presets: {', '.join(PRESET_NAMES)}")


def _known_descriptions() -> dict[str, EntityType]:
    known: dict[str, EntityType] = {}
    for preset in PRESET_NAMES:
        for entity_type in load_preset(preset):
            known.setdefault(entity_type.name, entity_type)
    return known


def _schema_from_lines(text: str, source: str) -> TypeSchema:
    known = _known_descriptions()
    types = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, description = line.partition(":")
        name, description = name.strip(), description.strip()
        fallback = known.get(name)
        types.append(
            EntityType(name, description or (fallback.description if fallback else ""),
                       fallback.group if fallback else None)
        )
    try:
        return TypeSchema(name=source, types=tuple(types))
    except SchemaError as error:
        raise TypeSchemaError(f"{source}: {error}") from error


def types_from_names(names: list[str] | tuple[str, ...]) -> tuple[EntityType, ...]:
    """Entity types for bare names (a chat's "use types: athlete, team"): a preset's description where the name
    is a preset type, else none (the planner then reads the name alone)."""
    return _schema_from_lines("\n".join(names), "chat types").types


def load_type_schema(spec: str) -> TypeSchema:
    """Resolve a ``--types`` value: a preset name, a path to a ``.toml`` / ``.txt`` file, or ``A,B,C``."""
    if not spec.strip() or not spec.replace(",", "").strip():
        raise TypeSchemaError(f"the types are empty: give a preset ({', '.join(PRESET_NAMES)}), a type file, or "
                              "names such as PER,LOC,ORG")
    if spec in PRESET_NAMES:
        return load_preset(spec)
    path = Path(spec)
    if path.suffix in (".toml", ".txt") or path.exists():
        if not path.is_file():
            raise TypeSchemaError(f"type file {path} does not exist")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            try:
                return _schema_from_toml(tomllib.loads(text), str(path))
            except tomllib.TOMLDecodeError as error:
                raise TypeSchemaError(f"type file {path} is not valid TOML: {error}") from error
        return _schema_from_lines(text, str(path))
    return _schema_from_lines(spec.replace(",", "\n"), "command-line types")


@lru_cache(maxsize=1)
def person_type_names() -> frozenset[str]:
    """Every preset type that denotes people: PER, person, and the FMNERG person group's fine types (cached: the
    presets are package data)."""
    names = set()
    for preset in PRESET_NAMES:
        for entity_type in load_preset(preset):
            if entity_type.name in ("PER", "person") or entity_type.group == "person":
                names.add(entity_type.name)
    return frozenset(names)
