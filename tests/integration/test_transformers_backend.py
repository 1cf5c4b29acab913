"""A tiny random Qwen2-VL through the transformers backend, the MLLM tools and the whole graph.

The model's answers are garbage by design: these tests check that real loading, input building (image
tokens, M-RoPE token types), generation, LoRA loading and answer parsing work, and that the pipeline copes.
"""

from __future__ import annotations

import torch
import pytest
from PIL import Image

from groundex.agent.backends.transformers_backend import TransformersPlanner
from groundex.agent.config import load_settings
from groundex.agent.contract import planner_tools
from groundex.agent.extractor import Extractor
from groundex.agent.nodes.plan import opening_messages
from groundex.agent.schema import Entity, Post
from groundex.agent.state import ExtractionState
from groundex.agent.prompting import entailment_question, grounding_question
from groundex.agent.type_presets import load_preset
from groundex.tools.base import ToolSetupError
from groundex.tools.entailment import MllmEntailment
from groundex.tools.grounding import MllmGrounding

pytestmark = pytest.mark.slow
TEXT = "Messi scores again for Barcelona"


def tiny_config(tmp_path, model_dir, adapter=None):
    path = tmp_path / "groundex.toml"
    adapter_line = f'adapter = "{adapter}"\n' if adapter else ""
    path.write_text(
        f'profile = "tiny"\n[profiles.tiny.planner]\nbackend = "transformers"\nmodel = "{model_dir}"\n{adapter_line}'
        'max_new_tokens = 24\n[profiles.tiny.entailment]\nbackend = "mllm"\n[profiles.tiny.grounding]\nbackend = "mllm"\n'
        '[profiles.tiny.segmentation]\nbackend = "sam"\n')
    return path


def test_the_planner_sees_the_image_and_answers_in_the_contract(tiny_qwen2_vl, blue_image):
    planner = TransformersPlanner(model_id=str(tiny_qwen2_vl), max_new_tokens=24)
    assert planner.family == "qwen2-vl" and planner.multimodal
    state = ExtractionState(post=Post("p", TEXT, image_path=blue_image), types=load_preset("gmner"))
    messages = opening_messages(state, planner.multimodal)
    inputs, sizes = planner._encode(messages, planner_tools())
    image_tokens = int((inputs["mm_token_type_ids"] == 1).sum())
    grid = inputs["image_grid_thw"][0]
    assert image_tokens == int(grid.prod()) // 4 > 0  # one token per 2x2 merged patch
    assert sizes[0].width % 28 == 0 and sizes[0].height % 28 == 0
    reply = planner.bind_tools(planner_tools()).invoke(messages)
    assert isinstance(reply.content, str) and isinstance(reply.tool_calls, list)
    assert "raw" in reply.response_metadata


def test_the_mllm_tools_ask_the_tiny_model(tiny_qwen2_vl, blue_image):
    planner = TransformersPlanner(model_id=str(tiny_qwen2_vl), max_new_tokens=24)
    image = Image.open(blue_image).convert("RGB")
    entity = Entity("Messi", 0, 5, "PER", "Lionel Messi, a footballer")
    verdict = MllmEntailment(planner, entailment_question).visibility(image, entity)
    assert 0.0 <= verdict.probability <= 1.0 and verdict.visible == (verdict.probability >= 0.5)
    found = MllmGrounding(planner, grounding_question).locate(image, entity)
    assert found is None or (0 <= found.box.x1 < found.box.x2 <= 300 and 0 <= found.box.y1 < found.box.y2 <= 200)


def test_the_graph_copes_with_a_garbage_planner_end_to_end(tiny_qwen2_vl, blue_image, tmp_path):
    settings = load_settings(config_file=tiny_config(tmp_path, tiny_qwen2_vl), environ={})
    post = Post("p", TEXT, image_path=blue_image)
    result = Extractor.from_settings(settings).extract(post, load_preset("gmner"))
    assert result.prediction.post_id == "p"
    assert all(t.entity.matches(post.text) for t in result.prediction.triples)
    assert all(isinstance(w, str) for w in result.warnings)


def test_a_lora_adapter_loads_with_peft_and_changes_the_logits(tiny_qwen2_vl, blue_image, tmp_path):
    from tests.support.tiny_models import build_lora_adapter

    adapter = build_lora_adapter(tiny_qwen2_vl, tmp_path / "adapter", multimodal=True)
    base = TransformersPlanner(model_id=str(tiny_qwen2_vl))
    tuned = TransformersPlanner(model_id=str(tiny_qwen2_vl), adapter=str(adapter))
    state = ExtractionState(post=Post("p", TEXT, image_path=blue_image), types=load_preset("gmner"))
    inputs, _ = base._encode(opening_messages(state, True), planner_tools())
    with torch.inference_mode():  # the planner places its inputs on the model's device (CUDA where there is one)
        base_logits = base._loaded.model(**base._device_inputs(inputs)).logits
        tuned_logits = tuned._loaded.model(**tuned._device_inputs(inputs)).logits
    assert type(tuned._loaded.model).__name__ == "PeftModel"
    assert not torch.allclose(base_logits, tuned_logits)


def test_a_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ToolSetupError, match="cannot be loaded"):
        TransformersPlanner(model_id=str(tmp_path / "no-such-model"))


def test_the_autoprocessor_path_encodes_exactly_like_the_fallback(tiny_qwen2_vl, blue_image):
    # transformers 5 builds the Qwen-VL processor only with torchvision (absent on the CPU machines; present on GPU
    # stacks, where inference takes this path): both must give the model the same inputs
    pytest.importorskip("torchvision", reason="the AutoProcessor path of Qwen-VL needs torchvision")
    from dataclasses import replace

    from groundex.agent.encoding import ChatEncoder

    encoder = ChatEncoder.load(str(tiny_qwen2_vl), "qwen2-vl", 56 * 56, 112 * 112)
    assert encoder.processor is not None
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": TEXT}]}]
    images = [Image.open(blue_image).convert("RGB")]
    with_processor, sizes = encoder.encode(messages, images, planner_tools())
    fallback, fallback_sizes = replace(encoder, processor=None).encode(messages, images, planner_tools())
    assert sizes == fallback_sizes
    assert torch.equal(with_processor["input_ids"], fallback["input_ids"])
    assert torch.equal(with_processor["image_grid_thw"], fallback["image_grid_thw"])
    assert torch.allclose(with_processor["pixel_values"], fallback["pixel_values"])
