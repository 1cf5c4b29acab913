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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from groundex.agent import (AnnotatedPost, AnswerStyle, GroundexError, PlannedEntity, locate_result_text,
                            planner_tools, render_planner_answer, resolve_answer_style, system_text, user_text)
from groundex.finetune.descriptions import DescriptionSource
from groundex.finetune.schema_sampling import SchemaSampler


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

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "messages": list(self.messages), "tools": list(self.tools), "images": list(self.images),
                "text_only": self.text_only, "type_names": self.type_names}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "SftExample":
        return cls(str(record["id"]), tuple(record["messages"]), tuple(record["tools"]), tuple(record.get("images", ())),
                   bool(record.get("text_only", True)), dict(record.get("type_names", {})))


def build_example(annotated: AnnotatedPost, sampler: SchemaSampler, descriptions: DescriptionSource,
                  multimodal: bool, final_answer: bool = True, style: AnswerStyle = "full") -> SftExample:
    """The training conversation for one post (``multimodal``: the planner sees the post's image, if it has one;
    ``style``: the answer rendering, ``agent.contract.AnswerStyle``)."""
    post = annotated.post
    sees_image = multimodal and post.image_path is not None
    sampled = sampler.sample(post.id, {g.entity.type for g in annotated.gold})
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
    return SftExample(post.id, tuple(messages), tuple(planner_tools(style)), images, not sees_image, sampled.names)


def build_examples(posts: Iterable[AnnotatedPost], sampler: SchemaSampler, descriptions: DescriptionSource,
                   multimodal: bool, final_answer: bool = True, style: AnswerStyle = "full") -> Iterator[SftExample]:
    for annotated in posts:
        yield build_example(annotated, sampler, descriptions, multimodal, final_answer, style)


@dataclass(frozen=True)
class DataRecipe:
    """How a split becomes training conversations (``groundex finetune build-data`` takes these as flags).

    ``dataset = "twitter-fmnerg"`` gives fine labels, whose schemas are drawn at the GMNER, FMNERG-group or fine
    level (``FineLabelSampler``); ``twitter-gmner`` gives GMNER types with FMNERG fine types as negatives only.
    ``answer_style``: ``auto`` is lean for text-only examples, full otherwise. ``held_out``: ``None`` for the
    default zero-shot list (``agent.type_presets.ZERO_SHOT_TYPES``)."""

    dataset: str = "twitter-gmner"
    split: str = "train"
    text_only: bool = True
    answer_style: str = "auto"
    seed: int = 0
    randomise: bool = True
    final_answer: bool = True
    held_out: tuple[str, ...] | None = None


def build_dataset(recipe: DataRecipe, data: Path, image_dir: Path | None = None,
                  descriptions: Path | None = None) -> list[SftExample]:
    """The training conversations of a whole split (``data``: the dataset folder or its parent)."""
    from groundex.agent import load_preset
    from groundex.eval.datasets import dataset_spec, load_split
    from groundex.finetune.descriptions import FileDescriptions, TemplateDescriptions
    from groundex.finetune.schema_sampling import FMNERG_GROUP_TO_GMNER, FineLabelSampler, RandomisationConfig

    style = resolve_answer_style(recipe.answer_style, multimodal=not recipe.text_only)
    posts = load_split(recipe.dataset, data, recipe.split, image_dir=None if recipe.text_only else image_dir)
    overrides: dict[str, Any] = {"enabled": recipe.randomise}
    if recipe.held_out is not None:
        overrides["held_out_types"] = list(recipe.held_out)
    randomisation = RandomisationConfig(**overrides)
    base = load_preset(dataset_spec(recipe.dataset).type_preset)
    fine = load_preset("fmnerg")
    if base.name == "fmnerg":
        sampler: Any = FineLabelSampler(fine, load_preset("fmnerg-coarse"), load_preset("gmner"), randomisation, recipe.seed)
    else:
        negative_base = {t.name: FMNERG_GROUP_TO_GMNER[t.group] for t in fine} if base.name == "gmner" else {}
        sampler = SchemaSampler(base, randomisation, recipe.seed, negatives=fine, negative_base=negative_base)
    source = FileDescriptions(descriptions) if descriptions else TemplateDescriptions()
    return list(build_examples(posts, sampler, source, multimodal=not recipe.text_only,
                               final_answer=recipe.final_answer, style=style))


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
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise GroundexError(f"{path}:{number}: not a training example ({error})") from error
    if not examples:
        raise GroundexError(f"training data {path} holds no examples")
    return examples


def _first_box(gold) -> list[float] | None:
    return gold.boxes[0].as_list() if gold.boxes else None
