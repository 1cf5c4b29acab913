"""A training mixture: several datasets, each with its split, types, weight and schema randomisation, drawn into
one file of training conversations (``groundex finetune build-data --mixture FILE``).

A mixture file is TOML (paths relative to the file)::

    name = "groundex-mix"
    seed = 0
    epochs = 2                 # draws: each epoch draws every corpus's examples anew (other posts, other schemas)
    text_only = true
    answer_style = "auto"
    final_answer = false
    held_out = ["politician", "Politician"]   # never shown, in any corpus (default: the FMNERG zero-shot types)

    [[datasets]]
    name = "fmnerg"            # example ids are "<name>:<post id>"
    dataset = "twitter-fmnerg"
    data = "../../../shared/data"
    split = "train"
    weight = 7000              # examples drawn per epoch (default: the whole split once)

    [[datasets]]
    name = "bionlp"
    dataset = "conll"
    data = "../../../shared/data/ner-mix/bionlp13cg"
    weight = 1500
    types = "types.toml"       # default: the types.toml beside the data (or a type file, or A,B,C)
    sentences = [1, 3033]      # only these sentences (1-based, inclusive) of the split
    [datasets.randomisation]   # RandomisationConfig overrides for this corpus
    rename_probability = 0.5

Each epoch shuffles each corpus with ``random.Random(f"{seed}:{name}:{epoch}")`` and takes its first ``weight``
posts, going round again where ``weight`` exceeds the corpus (a post drawn twice within an epoch gets another id
suffix, so another schema). The output is deterministic for a mixture file and the data it reads: its hash is the
training data hash a checkpoint records (``finetune.train.data_fingerprint``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from groundex.agent import AnnotatedPost, GroundexError, resolve_answer_style
from groundex.finetune.config import read_toml
from groundex.finetune.data import DataRecipe, SftExample, build_example, load_recipe_posts, schema_sampler


class MixtureDataset(BaseModel):
    """One corpus of a mixture."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="names the corpus in example ids and reports")
    dataset: str = Field(description="twitter-gmner, twitter-fmnerg, conll or jsonl")
    data: Path = Field(description="the split's file, the dataset's folder, or its parent")
    split: str = "train"
    weight: int | None = Field(None, gt=0, description="examples drawn per epoch (default: every post once)")
    types: str | None = Field(None, description="a type file or A,B,C; default: the dataset's preset or types.toml")
    tag_column: int | None = None
    tag_scheme: str = "auto"
    sentences: tuple[int, int] | None = Field(None, description="only posts first..last (1-based, inclusive)")
    drop_mentions: list[str] = Field(default_factory=list, description="gold mentions with exactly this text are "
                                     "left out of the targets (a corpus artifact, e.g. the Broad Twitter Corpus "
                                     "tags a lone '@' before a handle as a person)")
    lowercase: float = Field(0.0, ge=0, le=1, description="chance that an example's text is lower-cased (as "
                                                          "MultiCoNER's is), so casing is no cue the model relies on")
    randomisation: dict[str, Any] = Field(default_factory=dict, description="RandomisationConfig overrides")


class MixtureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "mixture"
    seed: int = 0
    epochs: int = Field(1, ge=1, description="independent draws written one after the other")
    text_only: bool = True
    answer_style: str = "auto"
    final_answer: bool = False
    held_out: list[str] | None = Field(None, description="types never shown in any corpus (default: the FMNERG "
                                                          "zero-shot types)")
    datasets: list[MixtureDataset] = Field(min_length=1)

    @field_validator("datasets")
    @classmethod
    def _unique_names(cls, datasets: list[MixtureDataset]) -> list[MixtureDataset]:
        names = [d.name for d in datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must differ: {names}")
        return datasets


def load_mixture(path: Path) -> MixtureConfig:
    """Read a mixture file; relative ``data`` and ``types`` paths are relative to its folder."""
    document = read_toml(path, "mixture file")
    for entry in document.get("datasets", []) if isinstance(document.get("datasets"), list) else []:
        if isinstance(entry, dict):
            if "data" in entry and not Path(entry["data"]).is_absolute():
                entry["data"] = str(path.parent / entry["data"])
            types = entry.get("types")
            if isinstance(types, str) and types.endswith((".toml", ".txt")) and not Path(types).is_absolute():
                entry["types"] = str(path.parent / types)
    try:
        return MixtureConfig.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False))
        raise GroundexError(f"invalid mixture file {path}: {problems}") from error


@dataclass(frozen=True)
class MixturePart:
    """What one corpus gave: its posts, examples written (all epochs) and the schema it drew from."""

    name: str
    posts: int
    examples: int
    types: int


def build_mixture(config: MixtureConfig) -> tuple[list[SftExample], list[MixturePart]]:
    """The mixture's training conversations, epoch after epoch (in each epoch, corpus after corpus: training
    shuffles them), and what each corpus gave."""
    from groundex.finetune.descriptions import TemplateDescriptions

    style = resolve_answer_style(config.answer_style, multimodal=not config.text_only)
    descriptions = TemplateDescriptions()
    corpora = []
    for entry in config.datasets:
        recipe = DataRecipe(dataset=entry.dataset, split=entry.split, text_only=config.text_only,
                            answer_style=config.answer_style, seed=config.seed, final_answer=config.final_answer,
                            held_out=None if config.held_out is None else tuple(config.held_out), types=entry.types,
                            tag_column=entry.tag_column, tag_scheme=entry.tag_scheme,
                            randomisation=tuple(sorted(entry.randomisation.items())))
        posts, schema = load_recipe_posts(recipe, entry.data)
        try:
            sampler = schema_sampler(recipe, schema)
        except (TypeError, ValueError) as error:  # a randomisation override that RandomisationConfig refuses
            raise GroundexError(f"mixture dataset {entry.name!r}: {error}") from error
        if entry.sentences is not None:
            first, last = entry.sentences
            if not 1 <= first <= last <= len(posts):
                raise GroundexError(f"mixture dataset {entry.name!r}: sentences {first}-{last} are outside its "
                                    f"{len(posts)} posts")
            posts = posts[first - 1:last]
        if entry.drop_mentions:
            dropped = set(entry.drop_mentions)
            posts = [AnnotatedPost(a.post, tuple(g for g in a.gold if g.entity.text not in dropped)) for a in posts]
        corpora.append((entry, posts, sampler, len(schema)))
    examples: list[SftExample] = []
    written = {entry.name: 0 for entry in config.datasets}
    for epoch in range(config.epochs):
        for entry, posts, sampler, _ in corpora:
            order = list(range(len(posts)))
            random.Random(f"{config.seed}:{entry.name}:{epoch}").shuffle(order)
            for draw in range(entry.weight or len(posts)):
                annotated = posts[order[draw % len(posts)]]
                lap = draw // len(posts)
                example_id = f"{entry.name}:{annotated.post.id}" + (f"#{epoch}" if epoch else "") + (f".{lap}" if lap else "")
                if entry.lowercase and random.Random(f"{config.seed}:{example_id}:case").random() < entry.lowercase:
                    annotated = lowercased(annotated)
                examples.append(build_example(annotated, sampler, descriptions, not config.text_only,
                                              config.final_answer, style, example_id,
                                              grounding_known=entry.dataset.startswith("twitter-")))
                written[entry.name] += 1
    parts = [MixturePart(entry.name, len(posts), written[entry.name], types) for entry, posts, _, types in corpora]
    return examples, parts


def lowercased(annotated: AnnotatedPost) -> AnnotatedPost:
    """The post with its text lower-cased and its mentions' texts with it, where that keeps every character
    offset (``str.lower`` lengthens a few letters, such as "İ"); otherwise the post unchanged."""
    post = annotated.post
    text = post.text.lower()
    if len(text) != len(post.text) or any(len(t.lower()) != len(t) for t in post.tokens):
        return annotated
    lowered = replace(post, text=text, tokens=tuple(t.lower() for t in post.tokens))
    gold = tuple(replace(g, entity=replace(g.entity, text=text[g.entity.start:g.entity.end])) for g in annotated.gold)
    return AnnotatedPost(lowered, gold)


def mixture_digest(path: Path) -> str:
    """sha256 of the mixture file's bytes (the data it names is covered by the built file's own hash)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
