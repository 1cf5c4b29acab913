"""The planner in process with transformers (+ an optional PEFT adapter): CPU runs, small models, tests.

Vision-language models (Qwen2-VL / Qwen2.5-VL) load with ``AutoModelForImageTextToText`` and see the image;
other causal LMs (the CPU profile's Gemma 3 270M) load with ``AutoModelForCausalLM`` and see the text only.
Every family renders the same ``prompts/chat_template.jinja`` with ``tools=``, so inference matches fine-tuning.

Inputs are built by ``agent.encoding.ChatEncoder``, the same code fine-tuning uses: the model's ``AutoProcessor`` where
transformers can build it, otherwise (transformers 5 needs torchvision for Qwen-VL processors, and there is no
torchvision for the CPU build of torch 2.13) ``AutoTokenizer`` + ``AutoImageProcessor`` with the processor's
image-token expansion.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import torch
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from PIL import Image
from pydantic import PrivateAttr

from groundex.agent.backends.base import PlannerChatModel
from groundex.agent.backends.coordinates import (
    QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, Family, auto_model_class, box_to_original_pixels, family_from_model_type)
from groundex.agent.backends.parsing import parse_box_answer
from groundex.agent.backends.precision import bf16_supported
from groundex.agent.backends.text_decoding import AnswerVocabulary, DecodingOptions, GreedyTextDecoder, check_cache_api
from groundex.agent.config import WeightType
from groundex.agent.contract import ANSWER_STYLES, PlannedEntity, planner_tools, render_planner_answer, split_tool_calls
from groundex.agent.encoding import END_OF_TURN, ChatEncoder, to_template_messages
from groundex.agent.schema import Box, ImageSize
from groundex.tools.base import ToolSetupError
from groundex.tools.images import image_size
from groundex.tools.loading import cached


@dataclass
class LoadedPlanner:
    """A loaded model and its input encoder; shared by every planner object with the same (model, adapter).

    ``text_decoder`` is the fast greedy decoder (``text_decoding``), built at load for text-only models when asked;
    ``None`` otherwise (``generate`` then decodes)."""

    model: Any
    encoder: ChatEncoder
    text_decoder: GreedyTextDecoder | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def stop_criteria(self) -> Any:
        """``generate``'s stop on the end-of-turn text, built once: building it scans the whole vocabulary (about
        1.4 s for Gemma's 262k tokens), which ``stop_strings=`` would pay again on every call."""
        from transformers import StopStringCriteria, StoppingCriteriaList

        return StoppingCriteriaList([StopStringCriteria(self.encoder.tokenizer, [END_OF_TURN])])

    @property
    def tokenizer(self) -> Any:
        return self.encoder.tokenizer

    @property
    def family(self) -> Family:
        return self.encoder.family


def load_planner_model(model_id: str, adapter: str | None, min_pixels: int = QWEN_MIN_PIXELS,
                       max_pixels: int = QWEN_MAX_PIXELS, family: Family | None = None,
                       decoding: DecodingOptions | None = None, cache_dir: Path | None = None,
                       merge_adapter: bool = True, dtype: WeightType = "auto") -> LoadedPlanner:
    """Load weights, tokenizer and image processing once; the adapter is applied with PEFT.

    ``family`` overrides the one read from the model's config (``planner.family`` in a profile). ``decoding``: for a
    text-only model, decode with ``GreedyTextDecoder`` and these options; the adapter is then merged into the
    weights (one matmul a layer instead of three), so the model is no longer a ``PeftModel``. ``cache_dir``
    (``Settings.cache_dir``) keeps the tokenizer's snapshot and, with ``merge_adapter``, that merge, done once
    (``merged_models``); later loads read them. ``dtype``: see ``weight_dtype``."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(model_id)
    except OSError as error:
        raise ToolSetupError(
            f"planner model {model_id!r} cannot be loaded ({str(error).splitlines()[0]}): give a local model "
            "directory, or download the hub id on a machine with network access") from error
    family = family or family_from_model_type(config.model_type)
    fast_text = decoding is not None and family == "text"
    if fast_text:
        check_cache_api()  # before any weight loads: one line naming the transformers version
    weights = model_id
    torch_dtype = weight_dtype(dtype, fast_text)
    if fast_text and adapter and merge_adapter and cache_dir is not None:
        from groundex.agent.backends.merged_models import merged_model

        precision = "bfloat16" if torch_dtype == torch.bfloat16 else "float32"
        weights, adapter = merged_model(model_id, adapter, family, cache_dir, precision), None
    model = auto_model_class(family).from_pretrained(weights, dtype=torch_dtype)
    if adapter:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter)
        except (OSError, ValueError) as error:
            raise ToolSetupError(f"LoRA adapter {adapter!r} cannot be loaded onto {model_id!r}: {error}") from error
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    encoder = ChatEncoder.load(model_id, family, min_pixels, max_pixels, cache_dir)
    if not fast_text:
        return LoadedPlanner(model=model, encoder=encoder)
    if adapter:
        model = model.merge_and_unload()
    vocabulary = AnswerVocabulary(encoder.tokenizer, contract_glue_ids(encoder))
    decoder = GreedyTextDecoder(model, encoder.tokenizer, END_OF_TURN, vocabulary, decoding)
    return LoadedPlanner(model=model, encoder=encoder, text_decoder=decoder)


def weight_dtype(requested: WeightType, fast_text: bool) -> torch.dtype:
    """The planner's weight type: ``requested`` unless ``auto``, which is bfloat16 on a GPU, and on a CPU for the
    fast text decoder (``fast_text``) where bf16 matmuls are native (``bf16_supported``), else float32. Other CPU
    paths stay float32: ``generate`` and the image questions are the reference the fast decoder is measured against."""
    if requested != "auto":
        return getattr(torch, requested)
    if torch.cuda.is_available() or (fast_text and bf16_supported()):
        return torch.bfloat16
    return torch.float32


def contract_glue_ids(encoder: ChatEncoder) -> list[int]:
    """Every token id of sample answers in each answer style (with and without entities and tool calls), as the
    chat template renders and the tokenizer splits them: the fixed text any answer is made of."""
    entities = [PlannedEntity("Alpha Beta", "PER", "Alpha Beta, a person", 0, "call_0"),
                PlannedEntity("Gamma", "ORG", "Gamma, an organization", 11),
                PlannedEntity("Delta", "LOC", "Delta, a place", 17, "call_2")]
    ids: set[int] = set()
    for style in ANSWER_STYLES:
        for listed in (entities, entities[1:2], []):
            content, calls = render_planner_answer(listed, style)
            messages, _ = to_template_messages([HumanMessage("post"), AIMessage(content=content, tool_calls=calls)])
            text = encoder.render(messages, planner_tools(style), add_generation_prompt=False)
            ids.update(encoder.tokenizer(text, add_special_tokens=False)["input_ids"])
    return sorted(ids)


class TransformersPlanner(PlannerChatModel):
    """A langchain chat model over a transformers model; also answers the MLLM tools' questions."""

    model_id: str
    adapter: str | None = None
    family_override: Family | None = None  # None: the family the model's config names
    max_new_tokens: int = 512
    temperature: float = 0.0
    min_pixels: int = QWEN_MIN_PIXELS
    max_pixels: int = QWEN_MAX_PIXELS
    decoding: DecodingOptions | None = DecodingOptions()  # text-only models, greedy: the fast decoder; None: generate
    cache_dir: Path | None = None  # tokenizer snapshots, and merged copies of base + adapter; None: neither
    merge_adapter: bool = True  # fast decoder + cache_dir: load base + adapter merged once into a copy
    dtype: WeightType = "auto"  # the weights' float type (weight_dtype)
    _loaded: LoadedPlanner = PrivateAttr()

    def model_post_init(self, context: Any) -> None:
        decoding = self.decoding if self.temperature == 0 else None
        key = (f"{self.model_id}|{self.adapter}|{self.min_pixels}|{self.max_pixels}|{self.family_override}|{decoding}|"
               f"{self.cache_dir}|{self.merge_adapter}|{self.dtype}")
        self._loaded = cached(("transformers-planner", key),
                              lambda: load_planner_model(self.model_id, self.adapter, self.min_pixels, self.max_pixels,
                                                         self.family_override, decoding, self.cache_dir,
                                                         self.merge_adapter, self.dtype))

    @property
    def _llm_type(self) -> str:
        return "groundex-transformers"

    @property
    def family(self) -> Family:
        return self._loaded.family

    # -- input building ---------------------------------------------------------------------------------
    def _encode(self, messages: Sequence[BaseMessage], tools: list[dict] | None) -> tuple[dict[str, torch.Tensor], list[ImageSize]]:
        """Tokenized inputs for the model, and the size of each image as the model sees it (pixels)."""
        return self._loaded.encoder.encode(*to_template_messages(messages), tools)

    def _device_inputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        device = next(self._loaded.model.parameters()).device
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}

    # -- generation -------------------------------------------------------------------------------------
    @torch.inference_mode()
    def generate_text(self, messages: Sequence[BaseMessage], tools: list[dict] | None = None) -> tuple[str, list[ImageSize]]:
        """The raw answer text (tool-call markup included, end-of-turn removed) and the model-side image sizes."""
        text, sizes, _ = self._generate_from(*self._encode(messages, tools))
        return text, sizes

    def _generate_from(self, inputs: dict[str, torch.Tensor],
                       sizes: list[ImageSize]) -> tuple[str, list[ImageSize], GenerationTiming]:
        loaded = self._loaded
        prompt_tokens = inputs["input_ids"].shape[1]
        if loaded.text_decoder is not None and not sizes:
            with loaded.lock:
                decoded = loaded.text_decoder.decode(
                    inputs["input_ids"], loaded.tokenizer.decode(inputs["input_ids"][0]), self.max_new_tokens)
            new_tokens = torch.tensor(decoded.token_ids, dtype=torch.long)
            timing = GenerationTiming(prompt_tokens, len(decoded.token_ids), decoded.prefill_s, decoded.total_s,
                                      decoded.forward_passes, decoded.full_vocabulary_steps)
        else:
            sampling = {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
            with loaded.lock:
                clock = _TokenClock()
                output = loaded.model.generate(
                    **self._device_inputs(inputs), max_new_tokens=self.max_new_tokens, stopping_criteria=loaded.stop_criteria,
                    pad_token_id=loaded.tokenizer.pad_token_id or loaded.tokenizer.eos_token_id, streamer=clock, **sampling)
            new_tokens = output[0, prompt_tokens:]
            timing = clock.timing(prompt_tokens, int(new_tokens.shape[0]))
        text = loaded.tokenizer.decode(new_tokens, skip_special_tokens=False)
        text = text.split(END_OF_TURN)[0]
        for marker in {loaded.tokenizer.eos_token, loaded.tokenizer.pad_token} - {None}:
            text = text.replace(marker, "")
        return text.strip(), sizes, timing

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, tools: list[dict] | None = None,
                  **kwargs: Any) -> ChatResult:
        with torch.inference_mode():
            raw, _, timing = self._generate_from(*self._encode(messages, tools))
        content, calls, problems = split_tool_calls(raw)
        message = AIMessage(content=content, tool_calls=calls,
                            response_metadata={"raw": raw, "problems": problems, "timing": asdict(timing)})
        return ChatResult(generations=[ChatGeneration(message=message)])

    # -- the MLLM tools' questions ------------------------------------------------------------------------
    def _encode_question(self, image: Image.Image, question: str) -> tuple[dict[str, torch.Tensor], list[ImageSize]]:
        if not self.multimodal:
            raise ToolSetupError(f"planner {self.model_id!r} is text-only and cannot answer questions about images")
        rendered = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self._loaded.encoder.encode(rendered, [image], None)

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
        answer, sizes, _ = self._generate_from(*self._encode_question(image, question))
        coordinates = parse_box_answer(answer)
        if coordinates is None:
            return None
        return box_to_original_pixels(coordinates, self.family, image_size(image), sizes[0])


@dataclass(frozen=True)
class GenerationTiming:
    """One ``generate`` call: prompt and generated token counts, seconds to the first new token (prefill) and in all
    (wall clock, inside the model lock); with the fast decoder also its forward passes (prefill included) and the
    steps that computed the whole output layer (``None`` from ``generate``)."""

    prompt_tokens: int
    generated_tokens: int
    prefill_s: float
    total_s: float
    forward_passes: int | None = None
    full_vocabulary_steps: int | None = None

    @property
    def decode_s(self) -> float:
        return self.total_s - self.prefill_s


class _TokenClock:
    """A ``generate`` streamer that only keeps time: its first ``put`` is the prompt, the second the first new token."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.ended: float | None = None
        self.puts = 0

    def put(self, value: Any) -> None:
        self.puts += 1
        if self.puts == 2:
            self.first_token = time.perf_counter()

    def end(self) -> None:
        self.ended = time.perf_counter()

    def timing(self, prompt_tokens: int, generated_tokens: int) -> GenerationTiming:
        ended = self.ended or time.perf_counter()
        first = self.first_token or ended
        return GenerationTiming(prompt_tokens, generated_tokens, first - self.started, ended - self.started,
                                forward_passes=None if self.first_token is None else self.puts - 1)


def _first_token_ids(tokenizer: Any, words: Sequence[str]) -> list[int]:
    ids = {tokenizer.encode(word, add_special_tokens=False)[0] for word in words if tokenizer.encode(word, add_special_tokens=False)}
    return sorted(ids)
