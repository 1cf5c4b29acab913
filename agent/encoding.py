"""Turning a conversation into model inputs: ONE implementation for inference and fine-tuning.

``to_template_messages`` turns langchain messages (the graph's conversation) into the dicts the chat template
renders; fine-tuning data is stored as those dicts already. ``ChatEncoder`` turns the dicts into token ids
(``encode`` for generation, ``encode_for_training`` with the assistant and decision masks).

Every family renders ``prompts/chat_template.jinja`` (with ``tools=``; text-only models with ``text_only=True``,
which leaves out the image slots). For Qwen-VL models each image slot ``<|image_pad|>`` is expanded into
``grid_t * grid_h * grid_w / merge_size**2`` image tokens, as the model's processor does; where transformers can
build that processor (it needs torchvision) inference uses it, otherwise the same expansion is done here from the
tokenizer and the image processor. Training always uses the expansion here, because it needs character offsets
to mark the assistant tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from PIL import Image

from groundex.agent.backends.coordinates import QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, Family
from groundex.agent.backends.messages import block_image, is_image_block
from groundex.agent.contract import decision_offsets
from groundex.agent.schema import ImageSize
from groundex.prompts import load_template

IMAGE_PAD = "<|image_pad|>"
END_OF_TURN = "<|im_end|>"
IGNORE_INDEX = -100  # label of tokens that carry no loss


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")


def to_template_messages(messages: Sequence[BaseMessage]) -> tuple[list[dict[str, Any]], list[Image.Image]]:
    """Langchain messages -> (the dicts ``chat_template.jinja`` renders, the images in order of appearance)."""
    rendered: list[dict[str, Any]] = []
    images: list[Image.Image] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            rendered.append({"role": "system", "content": _text_of(message.content)})
        elif isinstance(message, HumanMessage):
            parts: list[dict[str, Any]] = []
            for block in message.content if isinstance(message.content, list) else [{"type": "text", "text": message.content}]:
                if is_image_block(block):
                    images.append(block_image(block))
                    parts.append({"type": "image"})
                elif isinstance(block, dict) and block.get("type") == "text":
                    parts.append({"type": "text", "text": block["text"]})
                elif isinstance(block, str):
                    parts.append({"type": "text", "text": block})
            rendered.append({"role": "user", "content": parts})
        elif isinstance(message, AIMessage):
            rendered.append({
                "role": "assistant",
                "content": _text_of(message.content),
                "tool_calls": [{"type": "function", "function": {"name": c["name"], "arguments": c["args"]}}
                               for c in message.tool_calls],
            })
        elif isinstance(message, ToolMessage):
            rendered.append({"role": "tool", "content": _text_of(message.content)})
        else:
            raise TypeError(f"unsupported message type {type(message).__name__}")
    return rendered, images


class ConversationFormatError(ValueError):
    """A conversation the chat template cannot render consistently (e.g. prefixes that do not nest)."""


@dataclass(frozen=True)
class TrainingEncoding:
    """Inputs for one example plus ``labels``: the input ids on assistant tokens, ``IGNORE_INDEX`` elsewhere;
    ``decisions`` (bool, shape of ``labels``) marks the assistant tokens that hold a decision of the answer
    (``agent.contract.decision_offsets``) rather than format."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    decisions: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return int(self.inputs["input_ids"].shape[1])


@dataclass
class ChatEncoder:
    """Tokenizer (+ image processing) of one model family; ``processor`` only where transformers can build it."""

    tokenizer: Any
    family: Family
    image_processor: Any = None
    processor: Any = None
    min_pixels: int = QWEN_MIN_PIXELS
    max_pixels: int = QWEN_MAX_PIXELS

    @classmethod
    def load(cls, model_id: str, family: Family, min_pixels: int = QWEN_MIN_PIXELS,
             max_pixels: int = QWEN_MAX_PIXELS, cache_dir: Path | None = None) -> "ChatEncoder":
        """``cache_dir``: keep a snapshot of the loaded tokenizer there and read it on later loads
        (``backends.tokenizer_snapshots``); ``None`` loads with ``from_pretrained`` every time."""
        from transformers import AutoImageProcessor, AutoProcessor

        from groundex.agent.backends.tokenizer_snapshots import load_tokenizer

        encoder = cls(load_tokenizer(model_id, cache_dir), family, min_pixels=min_pixels, max_pixels=max_pixels)
        if family != "text":
            try:
                encoder.processor = AutoProcessor.from_pretrained(model_id)
                encoder.image_processor = encoder.processor.image_processor
            except (ValueError, TypeError, AttributeError, ImportError):
                encoder.image_processor = AutoImageProcessor.from_pretrained(model_id)
        return encoder

    @property
    def multimodal(self) -> bool:
        return self.family != "text"

    def render(self, messages: Sequence[dict[str, Any]], tools: list[dict] | None, add_generation_prompt: bool) -> str:
        """The conversation as text, exactly as the model reads it (before image-token expansion)."""
        return self.tokenizer.apply_chat_template(
            list(messages), tools=tools or None, chat_template=load_template("chat_template"),
            add_generation_prompt=add_generation_prompt, tokenize=False, text_only=not self.multimodal)

    # -- images -------------------------------------------------------------------------------------------
    def _image_inputs(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        size = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
        return dict(self.image_processor(images=images, size=size, return_tensors="pt"))

    def _expand(self, text: str, grids: torch.Tensor) -> str:
        """Replace the first ``len(grids)`` image slots of ``text`` by their image tokens (a prefix of a
        conversation may hold all its image slots, since images come with the first user turn)."""
        pieces = text.split(IMAGE_PAD)
        if len(pieces) - 1 != len(grids):
            raise ConversationFormatError(f"the chat template placed {len(pieces) - 1} image slots for {len(grids)} images")
        merge = self.image_processor.merge_size
        return pieces[0] + "".join(IMAGE_PAD * int(grid.prod() // merge**2) + piece for grid, piece in zip(grids, pieces[1:]))

    def model_image_sizes(self, grids: torch.Tensor) -> list[ImageSize]:
        """The size (pixels) of each image as the model sees it, from its patch grid."""
        patch = self.image_processor.patch_size
        return [ImageSize(int(grid[2]) * patch, int(grid[1]) * patch) for grid in grids]

    def _tokenize(self, text: str, image_inputs: dict[str, torch.Tensor] | None, **kwargs: Any) -> dict[str, Any]:
        inputs = dict(self.tokenizer(text, return_tensors="pt", add_special_tokens=False, **kwargs))
        if image_inputs:
            image_token_id = self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
            inputs["mm_token_type_ids"] = (inputs["input_ids"] == image_token_id).long()
            inputs.update(image_inputs)
        return inputs

    # -- inference ----------------------------------------------------------------------------------------
    def encode(self, messages: Sequence[dict[str, Any]], images: list[Image.Image], tools: list[dict] | None,
               ) -> tuple[dict[str, torch.Tensor], list[ImageSize]]:
        """Inputs for generating the next assistant turn, and the model-side size of each image."""
        images = images if self.multimodal else []
        text = self.render(messages, tools, add_generation_prompt=True)
        if not images:
            return self._tokenize(text, None), []
        if self.processor is not None:
            size = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
            inputs = dict(self.processor(text=[text], images=images, size=size, return_tensors="pt"))
        else:
            image_inputs = self._image_inputs(images)
            inputs = self._tokenize(self._expand(text, image_inputs["image_grid_thw"]), image_inputs)
        return inputs, self.model_image_sizes(inputs["image_grid_thw"])

    # -- training -----------------------------------------------------------------------------------------
    def encode_for_training(self, messages: Sequence[dict[str, Any]], images: list[Image.Image],
                            tools: list[dict] | None, entities_only: bool = False) -> TrainingEncoding:
        """Inputs of the whole conversation with labels on the assistant turns only (their content, tool calls
        and the closing ``<|im_end|>``; not the role header, not the other turns). ``entities_only``: labels on
        each assistant turn's entity list alone, for examples whose data says nothing about the image (text NER
        corpora): what follows the list (``locate_entity`` calls or the end) is neither taught nor untaught."""
        images = images if self.multimodal else []
        image_inputs = self._image_inputs(images) if images else None
        grids = image_inputs["image_grid_thw"] if image_inputs else torch.zeros((0, 3), dtype=torch.long)
        expand = (lambda text: self._expand(text, grids)) if image_inputs else (lambda text: text)
        full = expand(self.render(messages, tools, add_generation_prompt=False))
        spans = []
        for index, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = expand(self.render(messages[:index], tools, add_generation_prompt=True))
            through = expand(self.render(messages[:index + 1], tools, add_generation_prompt=False))
            if not (full.startswith(through) and through.startswith(before)):
                raise ConversationFormatError("the chat template does not render conversation prefixes as prefixes")
            end = through.rindex(END_OF_TURN) + len(END_OF_TURN)
            if entities_only:
                end = len(before) + _entity_list_end(full[len(before):end])
            spans.append((len(before), end))
        inputs = self._tokenize(full, image_inputs, return_offsets_mapping=True)
        offsets = inputs.pop("offset_mapping")[0].tolist()
        # a token that straddles the end of an entities-only span ("}<" of "}<|im_end|>" in Gemma's vocabulary) would
        # teach what follows the list: only tokens wholly inside such a span carry loss
        in_assistant = torch.tensor([any(start <= s < end and (not entities_only or e <= end) for start, end in spans)
                                     for s, e in offsets], dtype=torch.bool)
        labels = torch.where(in_assistant, inputs["input_ids"][0], torch.full_like(inputs["input_ids"][0], IGNORE_INDEX))
        decision_chars = sorted(start + o for start, end in spans for o in decision_offsets(full[start:end]))
        decisions = in_assistant & torch.tensor([_covers(decision_chars, s, e) for s, e in offsets], dtype=torch.bool)
        return TrainingEncoding(inputs, labels[None], decisions[None])


def _entity_list_end(answer: str) -> int:
    """The offset just past the JSON object that opens a rendered assistant turn (the entity list)."""
    import json

    try:
        return json.JSONDecoder().raw_decode(answer, answer.index("{"))[1]
    except (ValueError, json.JSONDecodeError) as error:
        raise ConversationFormatError(f"an assistant turn does not open with a JSON entity list: {answer[:60]!r}") from error


def _covers(sorted_chars: list[int], start: int, end: int) -> bool:
    """Whether a token spanning characters [start, end) holds one of ``sorted_chars``."""
    from bisect import bisect_left

    index = bisect_left(sorted_chars, start)
    return index < len(sorted_chars) and sorted_chars[index] < max(end, start + 1)
