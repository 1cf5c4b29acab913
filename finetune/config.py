"""The configuration of one training run (``groundex finetune train --config finetune.toml``).

Example (the GPU recipe; every key has a default except ``model`` and ``data``)::

    model = "Qwen/Qwen2.5-VL-7B-Instruct"
    data = "sft/train.jsonl"
    output_dir = "runs/finetune/qwen25vl-groundex"
    [lora]
    rank = 16
    alpha = 32
    [training]
    learning_rate = 1e-4
    epochs = 2
    batch_size = 1
    gradient_accumulation = 16
    [images]
    max_pixels = 802816
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from groundex.agent import GroundexError, QWEN_MAX_PIXELS, QWEN_MIN_PIXELS


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraSettings(_Section):
    rank: int = Field(16, gt=0, description="LoRA rank r (vLLM serves ranks up to --max-lora-rank)")
    alpha: int = Field(32, gt=0, description="LoRA alpha (scale = alpha / rank)")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        description="language-model linear layers (vLLM applies LoRA to these, not to the vision tower)")
    top_layers: int = Field(0, ge=0, description="LoRA on the top N decoder layers only (0: all). The frozen layers "
                                                 "below then run without autograd: no backward pass through them")
    init_from: str | None = Field(None, description="start from this adapter's weights instead of a fresh LoRA (a "
                                  "folder, or builtin:<name> of finetune/adapters/); its rank, layers and targets must "
                                  "be these")


class TrainingSettings(_Section):
    learning_rate: float = Field(1e-4, gt=0)
    epochs: int = Field(2, ge=1)
    max_steps: int = Field(0, ge=0, description="stop after this many optimizer steps (0: run all epochs)")
    batch_size: int = Field(1, ge=1, description="examples per forward pass")
    gradient_accumulation: int = Field(16, ge=1, description="forward passes per optimizer step")
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_length: int = Field(4096, gt=0, description="longer examples are skipped (and counted), not truncated")
    gradient_checkpointing: bool = True
    attention: str = Field("auto", pattern="^(auto|eager|sdpa)$",
                           description="attention kernel (transformers attn_implementation); auto: the model's default. "
                                       "eager is 12 % faster than sdpa for Gemma 3 270M on 2 CPU cores")
    decision_weight: float = Field(1.0, gt=0, description="loss weight of the answer's decision tokens (continue or "
                                                          "stop, span, type, call or not) against 1 for format tokens")
    loss_normalisation: str = Field(
        "tokens", pattern="^(tokens|examples)$",
        description="tokens: each (weighted) answer token of an optimizer step counts the same, as HF Trainer does "
                    "(num_items_in_batch); examples: the mean over each example's tokens, then over the examples "
                    "(round 2's recipe). With examples, a short answer ({\"entities\": []}) gives its one decision "
                    "token a large share of the step: on the round-3 mixture (24 % empty answers) a fresh LoRA then "
                    "put 0.65 on the empty list for posts with entities and answered [] everywhere")
    precision: str = Field("auto", pattern="^(auto|bf16|fp32)$", description="auto: bf16 where the GPU supports it")
    seed: int = 0
    save_every: int = Field(200, gt=0, description="optimizer steps between resumable checkpoints")
    log_every: int = Field(1, gt=0, description="optimizer steps between loss-curve rows")


class ImageSettings(_Section):
    min_pixels: int = Field(QWEN_MIN_PIXELS, gt=0)
    max_pixels: int = Field(QWEN_MAX_PIXELS, gt=0, description="bounds the image tokens per example")


class TrainConfig(_Section):
    model: str = Field(description="base model: hub id, local directory, or a packaged model (pypi:...)")
    model_cache_dir: Path = Field(Path("~/.cache/groundex"), description="where packaged (pypi:) base models are "
                                  "converted once; the runtime's cache_dir default, so both find the same conversion")
    data: Path = Field(description="SFT examples (JSONL) from `groundex finetune build-data`")
    output_dir: Path = Field(Path("runs/finetune/groundex-lora"), description="checkpoints, loss curve, adapter/")
    resume_from: Path | None = Field(None, description="a snapshot folder (`groundex finetune snapshot`, e.g. one "
                                     "committed mid-run) to continue from when output_dir holds no checkpoint yet; ignored while it does not exist")
    lora: LoraSettings = Field(default_factory=LoraSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)


def read_toml(path: Path, what: str) -> dict:
    """A TOML file as a dict; a missing file or bad TOML is a ``GroundexError`` naming ``what`` and the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise GroundexError(f"{what} {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise GroundexError(f"{what} {path} is not valid TOML: {error}") from error


def load_train_config(path: Path) -> TrainConfig:
    """Read a training TOML file; relative paths in it are relative to the file's folder."""
    document = read_toml(path, "training config")
    for key in ("data", "output_dir", "resume_from"):
        if key in document and not Path(document[key]).is_absolute():
            document[key] = str(path.parent / document[key])
    try:
        return TrainConfig.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors(include_url=False))
        raise GroundexError(f"invalid training config {path}: {problems}") from error
