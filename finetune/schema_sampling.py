"""Schema randomisation: each training post shows the planner a different, seeded type schema.

What varies (each post draws from ``random.Random(f"{seed}:{post id}")``, so a seed gives one dataset):
- **subsets and order**: some base types are dropped (their entities leave the target) and the rest shuffled;
- **renamed types**: "PER" may appear as "person" or "human" (aliases from the configuration);
- **descriptions**: sometimes omitted, so names alone must carry the meaning;
- **negative types**: extra types with no entity in the post. They are drawn only from types whose base type
  has no gold entity in the post (e.g. "city" or "country", mapped to LOC, for a post without LOC), so the
  unchanged target stays correct.
Held-out types never appear in any training schema, under any name: they are kept for zero-shot evaluation.

``FineLabelSampler`` does this for posts labelled with FMNERG fine types (Twitter-FMNERG train: the GMNER train
posts with a fine type per mention). Each post first draws a level: the 4 GMNER types, the 8 FMNERG groups, or
FMNERG fine types (those of its own mentions, some left out, plus negative fine types, partly from the same
groups; sometimes every fine type that is not held out), so one model learns coarse schemas, fine ones and
reading types from their names and descriptions.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from groundex.agent import EntityType, TypeSchema, ZERO_SHOT_TYPES

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
        default_factory=lambda: list(ZERO_SHOT_TYPES),
        description="never shown in training, under any name: the zero-shot evaluation types")
    level_weights: dict[str, float] = Field(
        default_factory=lambda: {"gmner": 0.45, "coarse": 0.2, "fine": 0.35},
        description="FineLabelSampler: the chance of each schema level (gmner: 4 types, coarse: 8 FMNERG groups, "
                    "fine: FMNERG fine types)")
    fine_keep_probability: float = Field(0.85, ge=0, le=1, description="chance, per gold fine type of the post, of "
                                                                        "being shown in a fine-level schema")
    max_fine_negatives: int = Field(5, ge=0, description="fine-level schemas: extra fine types absent from the post, at most")
    all_fine_probability: float = Field(0.15, ge=0, le=1, description="chance that a fine-level schema lists every "
                                                                       "fine type that is not held out")


@dataclass(frozen=True)
class SampledSchema:
    """The schema one post shows, and the name each gold type has in it (gold types missing: dropped)."""

    schema: TypeSchema
    names: dict[str, str]
    level: str = ""  # FineLabelSampler: "gmner", "coarse" or "fine"


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


class FineLabelSampler:
    """Schemas for posts whose gold types are FMNERG fine types (``fine``: the ``fmnerg`` preset, each type with
    its ``group``; ``groups``: the ``fmnerg-coarse`` preset; ``gmner``: the ``gmner`` preset).

    ``sample`` returns, like ``SchemaSampler.sample``, the shown schema and the shown name of each gold fine type
    whose entities are in the target (several fine types share a coarse name; a fine type left out is absent).
    """

    def __init__(self, fine: TypeSchema, groups: TypeSchema, gmner: TypeSchema, config: RandomisationConfig,
                 seed: int):
        self.fine, self.config, self.seed = fine, config, seed
        self.group_of = {t.name: t.group or t.name for t in fine}
        self.gmner_of = {name: FMNERG_GROUP_TO_GMNER[group] for name, group in self.group_of.items()}
        self.held_out = set(config.held_out_types)
        self.seen_fine = [t for t in fine if t.name not in self.held_out]
        by_level = {"gmner": (gmner, self.gmner_of), "coarse": (groups, self.group_of)}
        # The coarse levels reuse SchemaSampler: its negatives are fine types under a base type absent from the post.
        self.coarse_samplers = {level: (SchemaSampler(base, config, seed, negatives=fine, negative_base=mapping), mapping)
                                for level, (base, mapping) in by_level.items()}
        unknown = set(config.level_weights) - {"gmner", "coarse", "fine"}
        if unknown or not any(w > 0 for w in config.level_weights.values()):
            raise ValueError(f"level_weights needs positive weights for gmner / coarse / fine, not {config.level_weights}")

    def sample(self, post_id: str, gold_types: set[str]) -> SampledSchema:
        unknown = gold_types - set(self.group_of)
        if unknown:
            raise ValueError(f"post {post_id}: {', '.join(sorted(unknown))} are not FMNERG fine types")
        rng = random.Random(f"{self.seed}:{post_id}:level")
        levels = [level for level, weight in self.config.level_weights.items() if weight > 0]
        level = rng.choices(levels, weights=[self.config.level_weights[lv] for lv in levels])[0]
        if not self.config.enabled:
            level = "fine"
        if level != "fine":
            sampler, mapping = self.coarse_samplers[level]
            sampled = sampler.sample(post_id, {mapping[t] for t in gold_types})
            names = {t: sampled.names[mapping[t]] for t in sorted(gold_types) if mapping[t] in sampled.names}
            return SampledSchema(sampled.schema, names, level)
        return self._fine(rng, gold_types)

    def _fine(self, rng: random.Random, gold_types: set[str]) -> SampledSchema:
        config = self.config
        present = sorted(gold_types - self.held_out)
        if not config.enabled or rng.random() < config.all_fine_probability:
            shown_types = list(self.seen_fine)
        else:
            kept = [t for t in present if rng.random() < config.fine_keep_probability]
            absent = [t for t in self.seen_fine if t.name not in gold_types]
            near = [t for t in absent if t.group in {self.group_of[g] for g in gold_types}]
            count = rng.randint(1 if kept else 2, max(config.max_fine_negatives, 2))
            negatives = rng.sample(near, min(len(near), rng.randint(0, count)))
            negatives += rng.sample([t for t in absent if t not in negatives], min(len(absent), count - len(negatives)))
            shown_types = [self.fine.get(name) for name in kept] + negatives
            rng.shuffle(shown_types)
        names: dict[str, str] = {}
        shown: list[EntityType] = []
        for entity_type in shown_types:
            name = entity_type.name
            if "_" in name and rng.random() < config.rename_probability:
                name = name.replace("_", " ")  # "sports_team" as "sports team": names are read, not matched
            description = "" if rng.random() < config.description_dropout else entity_type.description
            shown.append(EntityType(name, description, entity_type.group))
            if entity_type.name in gold_types:
                names[entity_type.name] = name
        return SampledSchema(TypeSchema("fmnerg-sampled", tuple(shown)), names, "fine")
