"""The planner in process with transformers (+ an optional PEFT adapter): CPU runs, small models, tests.

Vision-language models (Qwen2-VL / Qwen2.5-VL) load with ``AutoModelForImageTextToText`` and see the image;
other causal LMs (the CPU profile's Gemma 3 270M) load with ``AutoModelForCausalLM`` and see the text only.
Every family renders the same ``prompts/chat_template.jinja`` with ``tools=``, so inference matches fine-tuning.

Inputs are built by the model's ``AutoProcessor`` where it can be built. transformers 5 cannot build a Qwen-VL
processor without torchvision (its video processor needs it; there is no torchvision for the CPU build of
torch 2.13 on PyPI); there the backend falls back to the same library parts the processor would use,
``AutoTokenizer`` + ``AutoImageProcessor`` (PIL backend), and expands each image placeholder into
``grid_t * grid_h * grid_w / merge_size**2`` image tokens exactly as the processor does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from PIL import Image
from pydantic import PrivateAttr

from groundex.agent.backends.base import PlannerChatModel
from groundex.agent.backends.coordinates import (
    QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, Family, box_to_original_pixels, family_from_model_type)
from groundex.agent.backends.messages import to_template_messages
from groundex.agent.backends.parsing import parse_box_answer
from groundex.agent.contract import split_tool_calls
from groundex.agent.schema import Box, ImageSize
from groundex.prompts import load_template
from groundex.tools.base import ToolSetupError
from groundex.tools.loading import cached

END_OF_TURN = "<|im_end|>"
IMAGE_PAD = "<|image_pad|>"


@dataclass
class LoadedPlanner:
    """A loaded model and its input builders; shared by every planner object with the same (model, adapter)."""

    model: Any
    tokenizer: Any
    family: Family
    processor: Any = None
    image_processor: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def multimodal(self) -> bool:
        return self.family != "text"


def load_planner_model(model_id: str, adapter: str | None) -> LoadedPlanner:
    """Load weights, tokenizer and image processing once; the adapter is applied with PEFT."""
    from transformers import (AutoConfig, AutoImageProcessor, AutoModelForCausalLM, AutoModelForImageTextToText,
                              AutoProcessor, AutoTokenizer)

    try:
        config = AutoConfig.from_pretrained(model_id)
    except OSError as error:
        raise ToolSetupError(
            f"planner model {model_id!r} cannot be loaded ({str(error).splitlines()[0]}): give a local model "
            "directory, or download the hub id on a machine with network access") from error
    family = family_from_model_type(config.model_type)
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    auto_class = AutoModelForImageTextToText if family != "text" else AutoModelForCausalLM
    model = auto_class.from_pretrained(model_id, dtype=dtype)
    if adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter)
        except (OSError, ValueError) as error:
            raise ToolSetupError(f"LoRA adapter {adapter!r} cannot be loaded onto {model_id!r}: {error}") from error
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(model_id)
    loaded = LoadedPlanner(model=model, tokenizer=tokenizer, family=family)
    if family != "text":
        try:
            loaded.processor = AutoProcessor.from_pretrained(model_id)
            loaded.image_processor = loaded.processor.image_processor
        except (ValueError, TypeError, AttributeError, ImportError):
            loaded.image_processor = AutoImageProcessor.from_pretrained(model_id)
    return loaded


class TransformersPlanner(PlannerChatModel):
    """A langchain chat model over a transformers model; also answers the MLLM tools' questions."""

    model_id: str
    adapter: str | None = None
    max_new_tokens: int = 512
    temperature: float = 0.0
    min_pixels: int = QWEN_MIN_PIXELS
    max_pixels: int = QWEN_MAX_PIXELS
    _loaded: LoadedPlanner = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        self._loaded = cached(("transformers-planner", f"{self.model_id}|{self.adapter}"),
                              lambda: load_planner_model(self.model_id, self.adapter))

    @property
    def _llm_type(self) -> str:
        return "groundex-transformers"

    @property
    def family(self) -> Family:
        return self._loaded.family

    # -- input building ---------------------------------------------------------------------------------
    def _image_inputs(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        size = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
        return dict(self._loaded.image_processor(images=images, size=size, return_tensors="pt"))

    def _encode(self, messages: Sequence[BaseMessage], tools: list[dict] | None) -> tuple[dict[str, torch.Tensor], list[ImageSize]]:
        """Tokenized inputs for the model, and the size of each image as the model sees it (pixels)."""
        return self._encode_rendered(*to_template_messages(messages), tools)

    def _encode_rendered(self, rendered: list[dict[str, Any]], images: list[Image.Image],
                         tools: list[dict] | None) -> tuple[dict[str, torch.Tensor], list[ImageSize]]:
        loaded = self._loaded
        if not loaded.multimodal:
            images = []
        text = loaded.tokenizer.apply_chat_template(
            rendered, tools=tools or None, chat_template=load_template("chat_template"), add_generation_prompt=True,
            tokenize=False, text_only=not loaded.multimodal)
        if not images:
            inputs = dict(loaded.tokenizer(text, return_tensors="pt", add_special_tokens=False))
            return inputs, []
        if loaded.processor is not None:
            size = {"shortest_edge": self.min_pixels, "longest_edge": self.max_pixels}
            inputs = dict(loaded.processor(text=[text], images=images, size=size, return_tensors="pt"))
        else:
            inputs = self._expand_without_processor(text, images)
        patch = loaded.image_processor.patch_size
        sizes = [ImageSize(int(grid[2]) * patch, int(grid[1]) * patch) for grid in inputs["image_grid_thw"]]
        return inputs, sizes

    def _expand_without_processor(self, text: str, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        """What the Qwen-VL processor does for images, from its parts: pixel values, one image token per merged
        patch, and the token-type ids that multimodal RoPE needs (1 = image token)."""
        loaded = self._loaded
        image_inputs = self._image_inputs(images)
        merge = loaded.image_processor.merge_size
        pieces = text.split(IMAGE_PAD)
        if len(pieces) - 1 != len(images):
            raise ValueError(f"the chat template placed {len(pieces) - 1} image slots for {len(images)} images")
        expanded = pieces[0] + "".join(IMAGE_PAD * int(grid.prod() // merge**2) + piece
                                       for grid, piece in zip(image_inputs["image_grid_thw"], pieces[1:]))
        inputs = dict(loaded.tokenizer(expanded, return_tensors="pt", add_special_tokens=False))
        image_token_id = loaded.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == image_token_id).long()
        inputs.update(image_inputs)
        return inputs

    def _device_inputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        device = next(self._loaded.model.parameters()).device
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}

    # -- generation -------------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate_text(self, messages: Sequence[BaseMessage], tools: list[dict] | None = None) -> tuple[str, list[ImageSize]]:
        """The raw answer text (tool-call markup included, end-of-turn removed) and the model-side image sizes."""
        return self._generate_from(*self._encode(messages, tools))

    def _generate_from(self, inputs: dict[str, torch.Tensor], sizes: list[ImageSize]) -> tuple[str, list[ImageSize]]:
        loaded = self._loaded
        sampling = {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        with loaded.lock:
            output = loaded.model.generate(
                **self._device_inputs(inputs), max_new_tokens=self.max_new_tokens, stop_strings=[END_OF_TURN],
                tokenizer=loaded.tokenizer, pad_token_id=loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id,
                **sampling)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        text = loaded.tokenizer.decode(new_tokens, skip_special_tokens=False)
        text = text.split(END_OF_TURN)[0]
        for marker in {loaded.tokenizer.eos_token, loaded.tokenizer.pad_token} - {None}:
            text = text.replace(marker, "")
        return text.strip(), sizes

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, tools: list[dict] | None = None,
                  **kwargs: Any) -> ChatResult:
        raw, _ = self.generate_text(messages, tools)
        content, calls, problems = split_tool_calls(raw)
        message = AIMessage(content=content, tool_calls=calls, response_metadata={"raw": raw, "problems": problems})
        return ChatResult(generations=[ChatGeneration(message=message)])

    # -- the MLLM tools' questions ------------------------------------------------------------------------
    def _encode_question(self, image: Image.Image, question: str) -> tuple[dict[str, torch.Tensor], list[ImageSize]]:
        if not self.multimodal:
            raise ToolSetupError(f"planner {self.model_id!r} is text-only and cannot answer questions about images")
        rendered = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self._encode_rendered(rendered, [image], None)

    @torch.inference_mode()
    def yes_probability(self, image: Image.Image, question: str) -> float:
        loaded = self._loaded
        inputs, _ = self._encode_question(image, question)
        with loaded.lock:
            logits = loaded.model(**self._device_inputs(inputs)).logits[0, -1].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        yes = torch.logsumexp(log_probs[_first_token_ids(loaded.tokenizer, ("yes", "Yes", " yes", " Yes"))], dim=0)
        no = torch.logsumexp(log_probs[_first_token_ids(loaded.tokenizer, ("no", "No", " no", " No"))], dim=0)
        return float(torch.softmax(torch.stack([yes, no]), dim=0)[0])

    def ask_box(self, image: Image.Image, question: str) -> Box | None:
        answer, sizes = self._generate_from(*self._encode_question(image, question))
        coordinates = parse_box_answer(answer)
        if coordinates is None:
            return None
        return box_to_original_pixels(coordinates, self.family, ImageSize(image.width, image.height), sizes[0])


def _first_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    ids = {tokenizer.encode(word, add_special_tokens=False)[0] for word in words if tokenizer.encode(word, add_special_tokens=False)}
    return sorted(ids)
