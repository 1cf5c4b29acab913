"""Supervised fine-tuning examples in the planner's exact inference format, built from gold annotations.

One example per post, a conversation of chat-template messages (``prompts/chat_template.jinja``):
1. system: ``agent.prompting.system_text`` with the post's sampled type schema;
2. user: the image slot (multimodal examples) and ``agent.prompting.user_text``;
3. assistant: the entity JSON and one ``locate_entity`` call per groundable entity (``agent.contract``), for
   text-only planners too, whose prompt asks them to judge visibility from the text;
4. tool: one ``agent.contract.locate_result_text`` per call, from the gold (visible, first gold box in pixels);
5. assistant (only after tool calls): the final triples as JSON.
Turns 4 and 5 are left out with ``final_answer=False``: the agent graph assembles the triples itself, so the
planner only ever needs turn 3, and short CPU runs spend their tokens there.
Only the assistant turns carry loss (``agent.encoding``). The gold-to-message mapping is the inverse of
what the agent reads back, so ``read_planner_answer`` on an example returns its gold entities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from groundex.agent import (AnnotatedPost, AnswerStyle, GroundexError, PlannedEntity, TypeSchema, locate_result_text,
                            planner_tools, render_planner_answer, resolve_answer_style, system_text, user_text)
from groundex.finetune.descriptions import DescriptionSource
from groundex.finetune.schema_sampling import SchemaSampler

if TYPE_CHECKING:
    from groundex.finetune.schema_sampling import RandomisationConfig


@dataclass(frozen=True)
class SftExample:
    """One training conversation. ``images`` are file paths, one per image slot; ``text_only`` marks examples
    whose planner sees no image (no image folder, a missing image, or a text-only model family)."""

    id: str
    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...]
    images: tuple[str, ...] = ()
    text_only: bool = True
    type_names: dict[str, str] = field(default_factory=dict)
    loss_scope: str = "all"  # "entities": the data says nothing about the image (agent.encoding, entities_only)

    def to_json(self) -> dict[str, Any]:
        record = {"id": self.id, "messages": list(self.messages), "tools": list(self.tools),
                  "images": list(self.images), "text_only": self.text_only, "type_names": self.type_names}
        if self.loss_scope != "all":
            record["loss_scope"] = self.loss_scope
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "SftExample":
        scope = str(record.get("loss_scope", "all"))
        if scope not in ("all", "entities"):
            raise ValueError(f"loss_scope must be all or entities, not {scope!r}")
        return cls(str(record["id"]), tuple(record["messages"]), tuple(record["tools"]), tuple(record.get("images", ())),
                   bool(record.get("text_only", True)), dict(record.get("type_names", {})), scope)


def build_example(annotated: AnnotatedPost, sampler: SchemaSampler, descriptions: DescriptionSource,
                  multimodal: bool, final_answer: bool = True, style: AnswerStyle = "full",
                  example_id: str | None = None, grounding_known: bool = True) -> SftExample:
    """The training conversation for one post (``multimodal``: the planner sees the post's image, if it has one;
    ``style``: the answer rendering, ``agent.contract.AnswerStyle``). ``example_id`` (default: the post id) names
    the example and seeds its schema draw, so a post drawn twice in a mixture gets two schemas.
    ``grounding_known``: whether the data says which entities are visible (Twitter-GMNER's boxes do; a text NER
    corpus does not: its example then carries loss on the entity list only, ``SftExample.loss_scope``)."""
    post = annotated.post
    example_id = example_id or post.id
    sees_image = multimodal and post.image_path is not None
    sampled = sampler.sample(example_id, {g.entity.type for g in annotated.gold})
    kept = [g for g in annotated.gold if g.entity.type in sampled.names]
    planned = [
        PlannedEntity(g.entity.text, sampled.names[g.entity.type], descriptions.describe(post, g.entity),
                      g.entity.start, f"call_{index}" if g.groundable else None)
        for index, g in enumerate(kept)
    ]
    planned.sort(key=lambda p: p.start)  # text order, as the prompt asks (the lean style relies on it)
    content, calls = render_planner_answer(planned, style)
    user_parts = ([{"type": "image"}] if sees_image else []) + [{"type": "text", "text": user_text(post)}]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_text(sampled.schema, sees_image, style)},
        {"role": "user", "content": user_parts},
        {"role": "assistant", "content": content,
         "tool_calls": [{"type": "function", "id": c["id"], "function": {"name": c["name"], "arguments": c["args"]}}
                        for c in calls]},
    ]
    gold_by_call = {p.locate_call_id: g for p, g in zip(planned, kept) if p.locate_call_id}
    for call in calls if final_answer else ():
        gold = gold_by_call[call["id"]]
        messages.append({"role": "tool", "tool_call_id": call["id"],
                         "content": locate_result_text(True, 1.0, gold.boxes[0] if gold.boxes else None)})
    if calls and final_answer:
        triples = [{"text": p.text, "start": p.start, "type": p.type,
                    "box": _first_box(gold_by_call[p.locate_call_id]) if p.locate_call_id else None}
                   for p in planned]
        messages.append({"role": "assistant", "content": json.dumps({"triples": triples}, ensure_ascii=False),
                         "tool_calls": []})
    images = (str(post.image_path),) if sees_image else ()
    return SftExample(example_id, tuple(messages), tuple(planner_tools(style)), images, not sees_image, sampled.names,
                      "all" if grounding_known else "entities")


def build_examples(posts: Iterable[AnnotatedPost], sampler: SchemaSampler, descriptions: DescriptionSource,
                   multimodal: bool, final_answer: bool = True, style: AnswerStyle = "full") -> Iterator[SftExample]:
    for annotated in posts:
        yield build_example(annotated, sampler, descriptions, multimodal, final_answer, style)


@dataclass(frozen=True)
class DataRecipe:
    """How a split becomes training conversations (``groundex finetune build-data`` takes these as flags).

    ``dataset = "twitter-fmnerg"`` gives fine labels, whose schemas are drawn at the GMNER, FMNERG-group or fine
    level (``FineLabelSampler``); ``twitter-gmner`` gives GMNER types with FMNERG fine types as negatives only; the
    generic formats (``conll``, ``jsonl``) draw from their own types (``types``: a type file or ``A,B,C``, else the
    ``types.toml`` beside the data). ``answer_style``: ``auto`` is lean for text-only examples, full otherwise.
    ``held_out``: ``None`` for the default zero-shot list (``agent.type_presets.ZERO_SHOT_TYPES``).
    ``randomisation``: overrides of ``RandomisationConfig`` (a mixture sets them per corpus)."""

    dataset: str = "twitter-gmner"
    split: str = "train"
    text_only: bool = True
    answer_style: str = "auto"
    seed: int = 0
    randomise: bool = True
    final_answer: bool = True
    held_out: tuple[str, ...] | None = None
    types: str | None = None
    tag_column: int | None = None
    tag_scheme: str = "auto"
    randomisation: tuple[tuple[str, Any], ...] = ()

    def randomisation_config(self) -> RandomisationConfig:
        from groundex.finetune.schema_sampling import RandomisationConfig

        overrides: dict[str, Any] = dict(self.randomisation)
        overrides["enabled"] = self.randomise
        if self.held_out is not None:
            overrides["held_out_types"] = list(self.held_out)
        return RandomisationConfig(**overrides)


def load_recipe_posts(recipe: DataRecipe, data: Path, image_dir: Path | None = None) -> tuple[list[AnnotatedPost], TypeSchema]:
    """A recipe's posts and the type schema their labels belong to (a generic dataset's labels are checked
    against it: a label outside it is an error naming its line)."""
    from groundex.eval.datasets import dataset_spec, dataset_types, load_split, split_file

    spec = dataset_spec(recipe.dataset)
    types = dataset_types(spec, split_file(spec, data, recipe.split), recipe.types)
    posts = load_split(recipe.dataset, data, recipe.split, image_dir=None if recipe.text_only else image_dir,
                       tag_column=recipe.tag_column, tag_scheme=recipe.tag_scheme,
                       known_labels=types.known_labels if spec.generic else None)
    if spec.generic and types.restricted:  # --types restricts what is taught: the other labels leave the targets
        posts = [replace(a, gold=tuple(g for g in a.gold if g.entity.type in types.schema)) for a in posts]
    return posts, types.schema


def schema_sampler(recipe: DataRecipe, schema: TypeSchema) -> Any:
    """The schema sampler of a recipe: FMNERG fine labels draw at three levels, GMNER adds fine negatives, and
    any other dataset draws its mentions' types, renames and negatives from its own types (``CorpusSampler``)."""
    from groundex.agent import load_preset
    from groundex.finetune.schema_sampling import FMNERG_GROUP_TO_GMNER, CorpusSampler, FineLabelSampler

    randomisation = recipe.randomisation_config()
    fine = load_preset("fmnerg")
    if recipe.dataset == "twitter-fmnerg":
        return FineLabelSampler(fine, load_preset("fmnerg-coarse"), load_preset("gmner"), randomisation, recipe.seed)
    if recipe.dataset in ("twitter-gmner", "twitter-smner"):
        negative_base = {t.name: FMNERG_GROUP_TO_GMNER[t.group] for t in fine}
        return SchemaSampler(schema, randomisation, recipe.seed, negatives=fine, negative_base=negative_base)
    return CorpusSampler(schema, randomisation, recipe.seed)


def build_dataset(recipe: DataRecipe, data: Path, image_dir: Path | None = None,
                  descriptions: Path | None = None) -> list[SftExample]:
    """The training conversations of a whole split (``data``: the split's file, the dataset folder or its parent)."""
    from groundex.finetune.descriptions import FileDescriptions, TemplateDescriptions

    style = resolve_answer_style(recipe.answer_style, multimodal=not recipe.text_only)
    posts, schema = load_recipe_posts(recipe, data, image_dir)
    source = FileDescriptions(descriptions) if descriptions else TemplateDescriptions()
    grounding_known = recipe.dataset.startswith("twitter-")
    sampler = schema_sampler(recipe, schema)
    return [build_example(annotated, sampler, source, not recipe.text_only, recipe.final_answer, style,
                          grounding_known=grounding_known) for annotated in posts]


def write_examples(path: Path, examples: Iterable[SftExample]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for example in examples:
            handle.write(json.dumps(example.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def read_examples(path: Path) -> list[SftExample]:
    if not path.is_file():
        raise GroundexError(f"training data {path} does not exist: build it with `groundex finetune build-data`")
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(SftExample.from_json(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise GroundexError(f"{path}:{number}: not a training example ({error})") from error
    if not examples:
        raise GroundexError(f"training data {path} holds no examples")
    return examples


def _first_box(gold) -> list[float] | None:
    return gold.boxes[0].as_list() if gold.boxes else None
