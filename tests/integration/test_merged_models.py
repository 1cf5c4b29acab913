"""Merging a LoRA adapter into a cached copy of its base (agent/backends/merged_models.py), with a tiny real Qwen2
text model and a random non-zero adapter: the copy computes what base + PEFT computes, is made once per adapter,
and the transformers fast decoder writes the same answer from it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage

from groundex.agent.backends.merged_models import merged_dir, merged_model
from groundex.agent.backends.transformers_backend import TransformersPlanner
from groundex.agent.contract import planner_tools
from groundex.tools.base import ToolSetupError
from tests.support.tiny_models import build_lora_adapter, build_tiny_qwen2_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_text_and_adapter(tmp_path_factory):
    work = tmp_path_factory.mktemp("merge")
    model = build_tiny_qwen2_text(work / "model")
    return model, build_lora_adapter(model, work / "adapter")


def test_the_merged_copy_computes_what_base_plus_peft_computes_and_is_made_once(tiny_text_and_adapter, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model_dir, adapter = tiny_text_and_adapter
    merged = merged_model(str(model_dir), str(adapter), "text", tmp_path)
    weights = Path(merged) / "model.safetensors"
    made = weights.stat().st_mtime_ns
    assert merged_model(str(model_dir), str(adapter), "text", tmp_path) == merged
    assert weights.stat().st_mtime_ns == made  # the second call reads the copy

    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.inference_mode():
        reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), str(adapter))(ids).logits
        copy = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
        base = AutoModelForCausalLM.from_pretrained(model_dir)(ids).logits
    assert torch.allclose(copy, reference, atol=1e-5)
    assert not torch.allclose(copy, base, atol=1e-3)  # the adapter is in it
    # the bf16 copy (what vLLM serves): the float32 merge, rounded once, in its own folder
    half = merged_model(str(model_dir), str(adapter), "text", tmp_path, "bfloat16")
    assert half != merged and half.endswith("-bf16")
    exact = AutoModelForCausalLM.from_pretrained(merged).state_dict()
    for name, tensor in AutoModelForCausalLM.from_pretrained(half, dtype=torch.bfloat16).state_dict().items():
        assert tensor.dtype == torch.bfloat16 and torch.equal(tensor, exact[name].to(torch.bfloat16)), name


def test_a_retrained_adapter_gets_its_own_copy(tiny_text_and_adapter, tmp_path):
    model_dir, adapter = tiny_text_and_adapter
    other = build_lora_adapter(model_dir, tmp_path / "adapter", seed=1)  # same folder name, other weights
    assert merged_dir(str(model_dir), str(adapter), tmp_path) != merged_dir(str(model_dir), str(other), tmp_path)


def test_a_folder_without_an_adapter_is_a_clear_error(tiny_text_and_adapter, tmp_path):
    model_dir, _ = tiny_text_and_adapter
    with pytest.raises(ToolSetupError, match="no adapter_config.json"):
        merged_model(str(model_dir), str(tmp_path), "text", tmp_path)


def test_the_fast_decoder_writes_the_same_answer_from_the_merged_copy(tiny_text_and_adapter, tmp_path):
    model_dir, adapter = tiny_text_and_adapter
    messages = [SystemMessage("List the named entities."), HumanMessage("Messi scores again for Barcelona")]
    # float32: the copy holds the weights merged in float32, bit for bit what merging at load computes
    from_copy = TransformersPlanner(model_id=str(model_dir), adapter=str(adapter), max_new_tokens=16,
                                    cache_dir=tmp_path, dtype="float32")
    merged_at_load = TransformersPlanner(model_id=str(model_dir), adapter=str(adapter), max_new_tokens=16,
                                         dtype="float32")
    assert from_copy._loaded.text_decoder is not None
    assert type(from_copy._loaded.model).__name__ == "Qwen2ForCausalLM"  # no PEFT wrapper: the weights are merged
    assert any((tmp_path / "models" / "merged").iterdir())
    tools = planner_tools()
    assert from_copy.generate_text(messages, tools) == merged_at_load.generate_text(messages, tools)


def test_export_merge_prints_a_serve_command_for_the_merged_copy(tiny_text_and_adapter, tmp_path, monkeypatch):
    from groundex.finetune.export import check_adapter, merged_serve_command

    model_dir, adapter = tiny_text_and_adapter
    monkeypatch.setenv("GROUNDEX_CACHE_DIR", str(tmp_path))
    merged, command = merged_serve_command(check_adapter(adapter), name="groundex")
    assert merged.parent == tmp_path / "models" / "merged" and (merged / "model.safetensors").is_file()
    assert f" {merged} --served-model-name groundex " in command and "--enable-lora" not in command
