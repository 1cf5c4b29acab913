"""Schema randomisation: each training post shows the planner a different, seeded type schema.

What varies (each post draws from ``random.Random(f"{seed}:{post id}")``, so a seed gives one dataset):
- **subsets and order**: some base types are dropped (their entities leave the target) and the rest shuffled;
- **renamed types**: "PER" may appear as "person" or "human" (aliases from the configuration);
- **descriptions**: sometimes omitted, so names alone must carry the meaning;
- **negative types**: extra types with no entity in the post. They are drawn only from types whose base type
  has no gold entity in the post (e.g. "city" or "country", mapped to LOC, for a post without LOC), so the
  unchanged target stays correct.
Held-out types never appear in any training schema, under any name: they are kept for zero-shot evaluation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from groundex.agent.schema import EntityType, TypeSchema

FMNERG_GROUP_TO_GMNER = {"person": "PER", "organization": "ORG", "location": "LOC", "building": "LOC",
                         "event": "OTHER", "art": "OTHER", "product": "OTHER", "other": "OTHER"}


class RandomisationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    subset_probability: float = Field(0.3, ge=0, le=1, description="chance that a post shows a subset of the types")
    shuffle: bool = True
    rename_probability: float = Field(0.3, ge=0, le=1, description="chance, per type, of showing an alias")
    description_dropout: float = Field(0.1, ge=0, le=1, description="chance, per type, of an empty description")
    max_negative_types: int = Field(2, ge=0, description="extra types with no entity in the post, at most")
    aliases: dict[str, list[str]] = Field(default_factory=lambda: {
        "PER": ["person", "human", "people"], "LOC": ["location", "place"],
        "ORG": ["organization", "organisation", "group"], "OTHER": ["miscellaneous", "other named thing"]})
    held_out_types: list[str] = Field(
        default_factory=lambda: ["athlete", "politician", "musician", "actor", "city", "country", "sports_team",
                                 "company", "festival", "film_and_television_works", "award", "website",
                                 "brand_name_products", "news_agency", "sports_event", "park"],
        description="never shown in training, under any name: the zero-shot evaluation types")


@dataclass(frozen=True)
class SampledSchema:
    """The schema one post shows, and the name each gold type has in it (gold types missing: dropped)."""

    schema: TypeSchema
    names: dict[str, str]


class SchemaSampler:
    """``base``: the dataset's types; ``negatives``: candidate extra types, each with the base type it falls
    under in ``negative_base`` (for FMNERG fine types and a GMNER base: the group's GMNER type)."""

    def __init__(self, base: TypeSchema, config: RandomisationConfig, seed: int,
                 negatives: TypeSchema | None = None, negative_base: dict[str, str] | None = None):
        held_out = set(config.held_out_types)
        # A held-out base type is dropped from every schema, and its entities from every target.
        self.base = TypeSchema(base.name, tuple(t for t in base if t.name not in held_out))
        self.config, self.seed = config, seed
        self.negatives = [t for t in (negatives or []) if t.name not in held_out and t.name not in base]
        self.negative_base = negative_base or {}
        self.held_out = held_out
        self.aliases = {k: [a for a in v if a not in held_out] for k, v in config.aliases.items()}

    def sample(self, post_id: str, gold_types: set[str]) -> SampledSchema:
        if not self.config.enabled:
            return SampledSchema(self.base, {t.name: t.name for t in self.base})
        rng = random.Random(f"{self.seed}:{post_id}")
        kept = list(self.base)
        if len(kept) > 1 and rng.random() < self.config.subset_probability:
            kept = rng.sample(kept, rng.randint(1, len(kept) - 1))
        if self.config.shuffle:
            rng.shuffle(kept)
        names: dict[str, str] = {}
        shown: list[EntityType] = []
        for entity_type in kept:
            name = entity_type.name
            if self.aliases.get(name) and rng.random() < self.config.rename_probability:
                name = rng.choice(self.aliases[name])
            description = "" if rng.random() < self.config.description_dropout else entity_type.description
            names[entity_type.name] = name
            shown.append(EntityType(name, description, entity_type.group))
        absent = [t for t in self.negatives if self.negative_base.get(t.name, t.name) not in gold_types
                  and t.name not in {s.name for s in shown}]
        if absent and self.config.max_negative_types:
            for negative in rng.sample(absent, min(len(absent), rng.randint(0, self.config.max_negative_types))):
                shown.insert(rng.randint(0, len(shown)), negative)
        return SampledSchema(TypeSchema(f"{self.base.name}-sampled", tuple(shown)), names)
