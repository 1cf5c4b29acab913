"""Supervised fine-tuning examples in the planner's exact inference format, built from gold annotations.

One example per post, a conversation of chat-template messages (``prompts/chat_template.jinja``):
1. system: ``agent.prompting.system_text`` with the post's sampled type schema;
2. user: the image slot (multimodal examples) and ``agent.prompting.user_text``;
3. assistant: the entity JSON and one ``locate_entity`` call per groundable entity (``agent.contract``), for
   text-only planners too, whose prompt asks them to judge visibility from the text;
4. tool: one ``agent.prompting.locate_result`` per call, from the gold (visible, first gold box in pixels);
5. assistant (only after tool calls): the final triples as JSON.
Turns 4 and 5 are left out with ``final_answer=False``: the agent graph assembles the triples itself, so the
planner only ever needs turn 3, and short CPU runs spend their tokens there.
Only the assistant turns carry loss (``agent.backends.inputs``). The gold-to-message mapping is the inverse of
what the agent reads back, so ``read_planner_answer`` on an example returns its gold entities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from groundex.agent.backends.messages import tool_result_text
from groundex.agent.contract import PlannedEntity, planner_tools, render_planner_answer
from groundex.agent.errors import GroundexError
from groundex.agent.prompting import locate_result, system_text, user_text
from groundex.agent.schema import AnnotatedPost
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
                  multimodal: bool, final_answer: bool = True) -> SftExample:
    """The training conversation for one post (``multimodal``: the planner sees the post's image, if it has one)."""
    post = annotated.post
    sees_image = multimodal and post.image_path is not None
    sampled = sampler.sample(post.id, {g.entity.type for g in annotated.gold})
    kept = [g for g in annotated.gold if g.entity.type in sampled.names]
    planned = [
        PlannedEntity(g.entity.text, sampled.names[g.entity.type], descriptions.describe(post, g.entity),
                      g.entity.start, f"call_{index}" if g.groundable else None)
        for index, g in enumerate(kept)
    ]
    content, calls = render_planner_answer(planned)
    user_parts = ([{"type": "image"}] if sees_image else []) + [{"type": "text", "text": user_text(post)}]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_text(sampled.schema, sees_image)},
        {"role": "user", "content": user_parts},
        {"role": "assistant", "content": content,
         "tool_calls": [{"type": "function", "id": c["id"], "function": {"name": c["name"], "arguments": c["args"]}}
                        for c in calls]},
    ]
    gold_by_call = {p.locate_call_id: g for p, g in zip(planned, kept) if p.locate_call_id}
    for call in calls if final_answer else ():
        gold = gold_by_call[call["id"]]
        messages.append({"role": "tool", "tool_call_id": call["id"],
                         "content": tool_result_text(locate_result(True, 1.0, gold.boxes[0] if gold.boxes else None))})
    if calls and final_answer:
        triples = [{"text": p.text, "start": p.start, "type": p.type,
                    "box": _first_box(gold_by_call[p.locate_call_id]) if p.locate_call_id else None}
                   for p in planned]
        messages.append({"role": "assistant", "content": json.dumps({"triples": triples}, ensure_ascii=False),
                         "tool_calls": []})
    images = (str(post.image_path),) if sees_image else ()
    return SftExample(post.id, tuple(messages), tuple(planner_tools()), images, not sees_image, sampled.names)


def build_examples(posts: Iterable[AnnotatedPost], sampler: SchemaSampler, descriptions: DescriptionSource,
                   multimodal: bool, final_answer: bool = True) -> Iterator[SftExample]:
    for annotated in posts:
        yield build_example(annotated, sampler, descriptions, multimodal, final_answer)


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
