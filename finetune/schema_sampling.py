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


ABBREVIATIONS = {"PER": "person", "LOC": "location", "ORG": "organization", "GRP": "group", "PROD": "product",
                 "GPE": "geopolitical entity", "MISC": "miscellaneous"}


def readable_names(label: str) -> list[str]:
    """Plain-language names for a corpus label, as a user would type them: ``HumanSettlement`` -> ``human
    settlement``; ``person_artist/author`` -> ``artist or author`` and ``person artist or author``;
    ``Gene_or_gene_product`` -> ``gene or gene product``; ``MusicalGRP`` -> ``musical group``; ``OtherPER`` ->
    ``other person``. Empty where the label is already plain (``athlete``)."""
    import re

    def words(part: str) -> list[str]:
        pieces = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", part)
        return [ABBREVIATIONS.get(p, p.lower()) for p in pieces] or [part.lower()]

    def plain(part: str) -> str:
        return " or ".join(" ".join(w for chunk in alternative.split("_") if chunk for w in words(chunk))
                           for alternative in part.split("/"))

    variants: list[str] = []
    group, underscore, rest = label.partition("_")
    if underscore and group.islower() and rest and group in {"person", "location", "organization", "building",
                                                             "event", "art", "product", "other"}:
        variants += [plain(rest), f"{group} {plain(rest)}"]  # Few-NERD's group_fine labels
    variants.append(plain(label))
    return [v for v in dict.fromkeys(variants) if v and v != label]


class CorpusSampler:
    """Schemas for a corpus labelled with its own types (``base``: its types file), however many: each example
    shows either every type (``all_fine_probability``) or the types of its own mentions (each kept with
    ``fine_keep_probability``) plus types of the corpus absent from it (negatives, up to ``max_fine_negatives``),
    shuffled; a type is shown under a readable name or an alias with ``rename_probability`` (``readable_names``,
    ``aliases``), and without its description with ``description_dropout``. Negatives come only from the corpus's
    own labels, so an unmarked mention never stands under a shown type. Held-out types never appear."""

    def __init__(self, base: TypeSchema, config: RandomisationConfig, seed: int):
        held_out = set(config.held_out_types)
        self.base = TypeSchema(base.name, tuple(t for t in base if t.name not in held_out))
        self.config, self.seed, self.held_out = config, seed, held_out
        self.names = {t.name: [n for n in (config.aliases.get(t.name) or readable_names(t.name)) if n not in held_out]
                      for t in self.base}

    def sample(self, example_id: str, gold_types: set[str]) -> SampledSchema:
        config = self.config
        if not config.enabled:
            return SampledSchema(self.base, {t.name: t.name for t in self.base})
        rng = random.Random(f"{self.seed}:{example_id}")
        if rng.random() < config.all_fine_probability:
            shown_types = list(self.base)
        else:
            present = [t for t in self.base if t.name in gold_types]
            kept = [t for t in present if rng.random() < config.fine_keep_probability]
            absent = [t for t in self.base if t.name not in gold_types]
            count = rng.randint(1 if kept else 2, max(config.max_fine_negatives, 2))
            shown_types = kept + rng.sample(absent, min(len(absent), count))
        rng.shuffle(shown_types)
        names: dict[str, str] = {}
        shown: list[EntityType] = []
        for entity_type in shown_types:
            name = entity_type.name
            if self.names[name] and rng.random() < config.rename_probability:
                name = rng.choice(self.names[name])
            if name in names.values():  # two labels with one plain name ("other_medical", "Medical"): keep the label
                name = entity_type.name
            description = "" if rng.random() < config.description_dropout else entity_type.description
            shown.append(EntityType(name, description, entity_type.group))
            names[entity_type.name] = name
        return SampledSchema(TypeSchema(f"{self.base.name}-sampled", tuple(shown)),
                             {gold: shown_name for gold, shown_name in names.items() if gold in gold_types})
