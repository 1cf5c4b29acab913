"""LoRA fine-tuning of the planner with PEFT, run through accelerate.

- Model families: Qwen2-VL / Qwen2.5-VL (``AutoModelForImageTextToText``, images bounded by min/max pixels) and
  text-only causal LMs (``AutoModelForCausalLM``); inputs come from ``agent.encoding.ChatEncoder``, the
  encoder the planner uses at inference.
- Loss on assistant tokens only. The LM head is computed only at the positions whose next token carries loss
  (``logits_to_keep``), which saves most of the vocabulary projection on long prompts.
- bf16 where the GPU supports it, gradient checkpointing, gradient accumulation, linear warm-up and decay.
- Resumable: every ``save_every`` steps ``output_dir/checkpoint/`` holds the adapter weights, optimizer,
  scheduler and position; running the same command again continues from there. Only adapter weights are
  saved, never the base model.
- Writes ``loss.csv`` (step, epoch, loss, decision_loss, learning_rate, elapsed_s), ``loss.png``,
  ``trained_examples.csv`` (step, epoch, process, the example ids it trained on) and the final ``adapter/``.
- Data-parallel under ``accelerate launch`` / ``torchrun`` (see ``train``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from PIL import Image

from groundex.agent import (ChatEncoder, GroundexError, IGNORE_INDEX, RunFolderLock, TrainingEncoding, auto_model_class,
                            bf16_supported, family_from_model_type, is_write_failure, publish_folder, recover_folder,
                            resolve_adapter, staging_folder, write_failure)
from groundex.finetune.config import TrainConfig
from groundex.finetune.data import SftExample, read_examples
from groundex.tools.images import load_image

CHECKPOINT = "checkpoint"
ADAPTER = "adapter"
TRAINED_EXAMPLES = "trained_examples.csv"  # which examples each process trained on at each optimizer step
LOSS_HEADER = "step,epoch,loss,decision_loss,learning_rate,elapsed_s"
EXAMPLES_HEADER = "step,epoch,process,example_ids"


@dataclass(frozen=True)
class TrainResult:
    """``adapter_dir`` is ``None`` when a stop request ended the run early (``stopped``): the checkpoint holds it."""

    adapter_dir: Path | None
    steps: int
    losses: tuple[float, ...]  # one per optimizer step of this run (resumed steps excluded)
    skipped_too_long: int
    stopped: bool = False
    total_steps: int = 0


def encode_example(encoder: ChatEncoder, example: SftExample) -> TrainingEncoding:
    images: list[Image.Image] = [] if example.text_only else [load_image(Path(p)) for p in example.images]
    return encoder.encode_for_training(list(example.messages), images, list(example.tools),
                                       entities_only=example.loss_scope == "entities")


def collate(encodings: list[TrainingEncoding], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch; image tensors (patches of all images) are concatenated, as Qwen-VL expects."""
    length = max(e.length for e in encodings)

    def pad(tensor: torch.Tensor, value: int) -> torch.Tensor:
        return torch.nn.functional.pad(tensor, (0, length - tensor.shape[1]), value=value)

    batch = {
        "input_ids": torch.cat([pad(e.inputs["input_ids"], pad_id) for e in encodings]),
        "attention_mask": torch.cat([pad(e.inputs["attention_mask"], 0) for e in encodings]),
        "labels": torch.cat([pad(e.labels, IGNORE_INDEX) for e in encodings]),
        "decisions": torch.cat([pad((e.decisions if e.decisions is not None else torch.zeros_like(e.labels)).long(), 0)
                                for e in encodings]).bool(),
    }
    if any("pixel_values" in e.inputs for e in encodings):
        batch["mm_token_type_ids"] = torch.cat([pad(e.inputs.get("mm_token_type_ids", torch.zeros_like(e.inputs["input_ids"])), 0)
                                                for e in encodings])
        batch["pixel_values"] = torch.cat([e.inputs["pixel_values"] for e in encodings if "pixel_values" in e.inputs])
        batch["image_grid_thw"] = torch.cat([e.inputs["image_grid_thw"] for e in encodings if "image_grid_thw" in e.inputs])
    return batch


@dataclass(frozen=True)
class BatchLoss:
    """``objective``: what is minimised (decision tokens weighted); ``mean``: plain mean cross-entropy over the
    assistant tokens; ``decision``: mean over the decision tokens only (``nan`` when the batch has none)."""

    objective: torch.Tensor
    mean: float
    decision: float
    tokens: int = 0
    decision_tokens: int = 0


def loss_weight(batch: dict[str, torch.Tensor], decision_weight: float = 1.0) -> float:
    """The summed token weights of ``batch``'s answers (1 a token, ``decision_weight`` a decision token): what
    ``assistant_loss`` divides by, known before the forward pass so that a whole optimizer step can share it."""
    counted = batch["labels"][:, 1:] != IGNORE_INDEX
    decisions = batch["decisions"][:, 1:] & counted
    return float(counted.sum()) + (decision_weight - 1.0) * float(decisions.sum())


def assistant_loss(model: Any, batch: dict[str, torch.Tensor], decision_weight: float = 1.0,
                   normaliser: float | None = None) -> BatchLoss:
    """Next-token cross-entropy over assistant tokens, computing logits only where they are needed.

    ``objective`` is the weighted loss summed over the batch's tokens divided by ``normaliser`` (default: the
    batch's own weight, ``loss_weight``, i.e. a weighted mean); the reported ``mean``/``decision`` are plain means."""
    labels = batch["labels"]
    targets = labels[:, 1:]
    positions = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
    if positions.numel() == 0:
        raise GroundexError("a training batch has no assistant tokens")
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "decisions")}
    logits = model(**inputs, logits_to_keep=positions).logits
    kept_targets = targets[:, positions].reshape(-1)
    losses = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), kept_targets,
                                               ignore_index=IGNORE_INDEX, reduction="none")
    counted = kept_targets != IGNORE_INDEX
    decisions = batch["decisions"][:, 1:][:, positions].reshape(-1).to(losses.device) & counted
    weights = counted.float() + (decision_weight - 1.0) * decisions.float()
    objective = (losses * weights).sum() / (normaliser if normaliser is not None else weights.sum())
    detached = losses.detach()
    decision = float(detached[decisions].mean()) if decisions.any() else float("nan")
    return BatchLoss(objective, float(detached[counted].mean()), decision, int(counted.sum()), int(decisions.sum()))


def _use_bf16(precision: str) -> bool:
    supported = bf16_supported()
    if precision == "bf16" and not supported:
        raise GroundexError("precision = \"bf16\" needs a GPU with bf16 support or a CPU with AVX512-BF16; "
                            "use \"auto\" or \"fp32\"")
    return precision == "bf16" or (precision == "auto" and supported)


def resolve_base_model(config: TrainConfig) -> str:
    """A path or hub id for ``from_pretrained``; ``pypi:`` models are converted into ``config.model_cache_dir``."""
    from groundex.agent import resolve_model

    return resolve_model(config.model, config.model_cache_dir.expanduser())


def load_trainable_model(config: TrainConfig, bf16: bool) -> tuple[Any, ChatEncoder]:
    """The base model with a fresh LoRA adapter, and the encoder of its family."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig

    model_path = resolve_base_model(config)
    try:
        family = family_from_model_type(AutoConfig.from_pretrained(model_path).model_type)
    except OSError as error:
        raise GroundexError(f"base model {config.model!r} cannot be loaded: {str(error).splitlines()[0]}") from error
    attention = {} if config.training.attention == "auto" else {"attn_implementation": config.training.attention}
    model = auto_model_class(family).from_pretrained(model_path, dtype=torch.bfloat16 if bf16 else torch.float32, **attention)
    if config.training.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    layers = None
    if config.lora.top_layers:
        text_config = model.config.get_text_config()
        count = text_config.num_hidden_layers
        if config.lora.top_layers > count:
            raise GroundexError(f"lora.top_layers = {config.lora.top_layers}, but {config.model!r} has {count} layers")
        layers = list(range(count - config.lora.top_layers, count))
    lora = LoraConfig(r=config.lora.rank, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                      target_modules=config.lora.target_modules, task_type="CAUSAL_LM", layers_to_transform=layers)
    model = get_peft_model(model, lora)
    if config.lora.init_from:
        _init_adapter(model, config.lora.init_from)
    encoder = ChatEncoder.load(model_path, family, config.images.min_pixels, config.images.max_pixels)
    return model, encoder


def _init_adapter(model: Any, adapter: str) -> None:
    """Load a trained adapter's weights into the fresh LoRA (continued training); a shape or name mismatch is one
    error naming the adapter."""
    folder = Path(resolve_adapter(adapter))
    if not (folder / "adapter_model.safetensors").is_file():
        raise GroundexError(f"lora.init_from = {adapter!r}: no adapter_model.safetensors in {folder}")
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(folder / "adapter_model.safetensors")
    try:
        result = set_peft_model_state_dict(model, weights)
    except (RuntimeError, ValueError, KeyError) as error:
        raise GroundexError(f"lora.init_from = {adapter!r} does not fit this LoRA (rank, layers and target modules "
                            f"must match): {str(error).splitlines()[0]}") from error
    lora_missing = [key for key in result.missing_keys if "lora_" in key]
    if result.unexpected_keys or lora_missing:
        raise GroundexError(f"lora.init_from = {adapter!r} does not fit this LoRA (rank, layers and target modules "
                            f"must match): {len(result.unexpected_keys)} of its weights have no place here, "
                            f"{len(lora_missing)} LoRA weights here have none there")


def _epoch_order(count: int, seed: int, epoch: int) -> list[int]:
    order = list(range(count))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order


def _save_checkpoint(directory: Path, model: Any, optimizer: Any, scheduler: Any, position: dict[str, Any]) -> None:
    """Write the checkpoint under ``<directory>.tmp`` and publish it by renames (``agent.folders``): a crash or a
    full disk mid-save leaves the previous checkpoint whole, and a kill between the renames is undone on resume."""
    staging = staging_folder(directory)
    try:
        model.save_pretrained(staging / ADAPTER)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, staging / "optimizer.pt")
        (staging / "position.json").write_text(json.dumps(position))
    except OSError as error:
        if is_write_failure(error):
            raise write_failure(error, staging, f"the last complete checkpoint in {directory} is kept; free the "
                                                "space and run the same command to resume from it") from error
        raise
    publish_folder(staging, directory)


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _load_adapter_weights(model: Any, adapter_dir: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(adapter_dir / "adapter_model.safetensors"))


def data_fingerprint(path: Path) -> str:
    """sha256 of the training data file: a resumed run must see the same examples in the same order."""
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_run(run: Path, to: Path) -> Path:
    """Copy a run's checkpoint and loss curve to ``to`` (a folder to commit mid-run): the checkpoint holds the
    adapter weights, the optimizer and scheduler state and the position, so ``resume_from = to`` continues the
    run exactly on another machine. Returns ``to``."""
    import shutil

    if not (run / CHECKPOINT / "position.json").is_file():
        raise GroundexError(f"{run} holds no checkpoint to snapshot (a run writes one every save_every steps)")
    staging = staging_folder(to)
    try:
        _copy_run_state(run, staging)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        if is_write_failure(error):
            raise write_failure(error, staging, f"{to} is unchanged") from error
        raise
    publish_folder(staging, to)
    return to


def _copy_run_state(source: Path, target: Path) -> None:
    """The checkpoint folder and the loss curve (csv and plot, where present) of ``source`` into ``target``."""
    import shutil

    shutil.copytree(source / CHECKPOINT, target / CHECKPOINT)
    for name in ("loss.csv", "loss.png"):
        if (source / name).is_file():
            shutil.copy2(source / name, target / name)


def _adopt_snapshot(snapshot: Path, output: Path) -> None:
    """Start ``output`` from a snapshot when it has no checkpoint of its own."""
    if not (snapshot / CHECKPOINT / "position.json").is_file():
        raise GroundexError(f"resume_from = {snapshot}: no {CHECKPOINT}/position.json there (make one with "
                            "`groundex finetune snapshot`)")
    _copy_run_state(snapshot, output)


def _load_checkpoint(directory: Path, model: Any, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    _load_adapter_weights(model, directory / ADAPTER)
    # tensors and plain containers only: a snapshot from elsewhere (resume_from) cannot run code when it loads
    state = torch.load(directory / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return json.loads((directory / "position.json").read_text())


def _name_base_model(adapter_dir: Path, model_id: str) -> None:
    """Record the configured base model id (``pypi:...`` or a hub id), not this machine's resolved path."""
    config_path = adapter_dir / "adapter_config.json"
    document = json.loads(config_path.read_text())
    document["base_model_name_or_path"] = model_id
    config_path.write_text(json.dumps(document, indent=2) + "\n")


def write_loss_plot(csv_path: Path, png_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    figure, axis = plt.subplots(figsize=(7, 4))
    steps = [int(r["step"]) for r in rows]
    axis.plot(steps, [float(r["loss"]) for r in rows], linewidth=1.2, label="all assistant tokens")
    if rows and "decision_loss" in rows[0]:
        axis.plot(steps, [float(r["decision_loss"]) for r in rows], linewidth=1.2, label="decision tokens")
        axis.legend()
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("training loss (assistant tokens)")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(png_path, dpi=120)
    plt.close(figure)


@dataclass(frozen=True)
class HeldOutLoss:
    """Teacher-forced loss of a model on examples it does not train on: ``mean`` over all answer tokens,
    ``decision`` over the decision tokens only (``agent.contract.decision_offsets``), token-weighted."""

    mean: float
    decision: float
    examples: int


def held_out_loss(config: TrainConfig, adapter_dir: Path | None, examples: list[SftExample]) -> HeldOutLoss:
    """The loss of ``config.model`` with the adapter in ``adapter_dir`` (``None``: a fresh LoRA, i.e. the base
    model) on ``examples``, without gradients."""
    model, encoder = load_trainable_model(config, _use_bf16(config.training.precision))
    if adapter_dir is not None:
        _load_adapter_weights(model, adapter_dir)
    model.eval()
    pad_id = _pad_id(encoder.tokenizer)
    means = decisions = 0.0
    tokens = decision_tokens = 0
    with torch.no_grad():
        for example in examples:
            loss = assistant_loss(model, collate([encode_example(encoder, example)], pad_id))
            means, tokens = means + loss.mean * loss.tokens, tokens + loss.tokens
            if loss.decision_tokens:
                decisions += loss.decision * loss.decision_tokens
                decision_tokens += loss.decision_tokens
    return HeldOutLoss(means / max(tokens, 1), decisions / max(decision_tokens, 1), len(examples))


def process_share(order: list[int], micro_step: int, processes: int, process: int, batch_size: int) -> list[int]:
    """The example indices ``process`` trains on at ``micro_step`` of an epoch whose shuffled order is ``order``.

    Micro-step m takes the next ``processes * batch_size`` examples of the order, ``batch_size`` for each process
    in process order, so the processes' shares of an epoch are disjoint and together cover it. In the last
    micro-step of an epoch a process may get fewer, or none (it then takes part with a zero-weight batch)."""
    start = (micro_step * processes + process) * batch_size
    return order[start:start + batch_size]


def micro_steps_per_epoch(examples: int, processes: int, batch_size: int) -> int:
    return math.ceil(examples / (processes * batch_size))


class _Processes:
    """The collective operations one training step needs; with one process they are plain local values."""

    def __init__(self, accelerator: Any):
        self.accelerator = accelerator
        self.count, self.index = accelerator.num_processes, accelerator.process_index
        self.main = accelerator.is_main_process

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one (so all stop at the same step)."""
        if self.count == 1:
            return flag
        return bool(self.accelerator.reduce(torch.tensor([float(flag)], device=self.accelerator.device), "sum").item() > 0)

    def sums(self, *values: float) -> list[float]:
        """The values summed over processes."""
        if self.count == 1:
            return list(values)
        summed = self.accelerator.reduce(torch.tensor(values, dtype=torch.float64, device=self.accelerator.device), "sum")
        return summed.tolist()

    def gather(self, item: Any) -> list[Any]:
        """One ``item`` per process, in process order (on every process)."""
        if self.count == 1:
            return [item]
        from accelerate.utils import gather_object

        return gather_object([item])

    def barrier(self) -> None:
        self.accelerator.wait_for_everyone()


def _check_processes(position: dict[str, Any], processes: int, checkpoint: Path) -> None:
    recorded = position.get("processes", 1)  # checkpoints from before multi-process runs: one process
    if recorded != processes:
        raise GroundexError(
            f"the checkpoint in {checkpoint} was written by a run of {recorded} process(es), and this run has "
            f"{processes}: the data order and the global batch depend on the number, so resume it with {recorded} "
            f"(accelerate launch --num_processes {recorded}, or torchrun --nproc_per_node {recorded}), or start "
            "in another output_dir")


def check_gpus_per_process(local_processes: int, gpus: int) -> None:
    """Data-parallel training on GPUs takes one GPU per process of a machine: more processes than GPUs would put
    two NCCL ranks on one device, which NCCL refuses deep inside its first collective (``Duplicate GPU detected``).
    Refused here, before any weight loads, with what to run (``local_processes``: torchrun's and accelerate's
    ``LOCAL_WORLD_SIZE``; ``gpus``: the CUDA devices this process sees, 0 on a CPU machine)."""
    if gpus and local_processes > gpus:
        raise GroundexError(
            f"{local_processes} training processes were started on this machine, and it has {gpus} GPU(s): "
            f"data-parallel training takes one GPU per process (torchrun --nproc_per_node {gpus}, or accelerate "
            f"launch --num_processes {gpus}); one GPU trains with plain `groundex finetune train`")


@dataclass
class _StepTotals:
    """What the micro-steps of the current optimizer step added up on this process."""

    losses: list[float]
    decisions: list[float]
    example_ids: list[str]

    @classmethod
    def empty(cls) -> "_StepTotals":
        return cls([], [], [])


class _TrainingRun:
    """One run's moving parts and its position, set up once; ``train`` walks them step by step.

    ``prepare`` loads the model, the optimizer and the schedule; ``restore`` continues from a checkpoint or a
    committed snapshot; ``micro_steps`` yields what is left of the schedule; ``learn`` is one forward and backward
    pass; ``end_step`` closes an optimizer step (schedule, logs); ``save_checkpoint`` and ``save_adapter`` write."""

    def __init__(self, config: TrainConfig):
        from accelerate import Accelerator
        from transformers import get_linear_schedule_with_warmup

        settings = self.settings = config.training
        self.config = config
        check_gpus_per_process(int(os.environ.get("LOCAL_WORLD_SIZE", "1")),
                               torch.cuda.device_count() if torch.cuda.is_available() else 0)
        torch.manual_seed(settings.seed)
        self.examples = read_examples(config.data)
        bf16 = _use_bf16(settings.precision)
        model, self.encoder = load_trainable_model(config, bf16)
        # On a CPU the base weights are already bf16 and autocast only adds casts (measured 15 % slower), so
        # accelerate's mixed precision is for GPUs; PEFT keeps the adapter weights in fp32 either way.
        on_gpu = torch.cuda.is_available()
        self.accelerator = Accelerator(gradient_accumulation_steps=settings.gradient_accumulation,
                                       mixed_precision="bf16" if bf16 and on_gpu else "no", cpu=not on_gpu)
        self.processes = _Processes(self.accelerator)
        self.micro_per_epoch = micro_steps_per_epoch(len(self.examples), self.processes.count, settings.batch_size)
        self.steps_per_epoch = math.ceil(self.micro_per_epoch / settings.gradient_accumulation)
        self.total_steps = settings.max_steps or self.steps_per_epoch * settings.epochs
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate,
                                      weight_decay=settings.weight_decay)
        # the schedule is stepped here once per optimizer step (accelerate would step it once per process)
        self.scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * self.total_steps),
                                                         self.total_steps)
        self.model, self.optimizer = self.accelerator.prepare(model, optimizer)
        self.output = config.output_dir
        self.loss_csv, self.examples_csv = self.output / "loss.csv", self.output / TRAINED_EXAMPLES
        self.fingerprint = data_fingerprint(config.data)
        self.position: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "elapsed_s": 0.0}
        self.pad_id = _pad_id(self.encoder.tokenizer)
        self.totals = _StepTotals.empty()
        self.losses: list[float] = []
        self.skipped = 0

    # -- where the run stands --------------------------------------------------------------------------------
    def restore(self) -> None:
        """Continue from ``output_dir``'s checkpoint, or adopt the committed snapshot ``resume_from`` into it."""
        output, processes = self.output, self.processes
        if processes.main:
            output.mkdir(parents=True, exist_ok=True)
            recover_folder(output / CHECKPOINT)  # a save cut short between its renames
            if self.config.resume_from and self.config.resume_from.exists() \
                    and not (output / CHECKPOINT / "position.json").is_file():
                _adopt_snapshot(self.config.resume_from, output)  # a resume_from that does not exist yet: a fresh start
        processes.barrier()
        if (output / CHECKPOINT / "position.json").is_file():
            self.position = _load_checkpoint(output / CHECKPOINT, self.accelerator.unwrap_model(self.model),
                                             self.optimizer, self.scheduler)
            if self.position.get("data_sha256", self.fingerprint) != self.fingerprint:
                raise GroundexError(f"the checkpoint in {output / CHECKPOINT} was trained on other data than "
                                    f"{self.config.data} (its sha256 differs): rebuild the data with the recipe's "
                                    "build-data command, or start the run in another output_dir")
            _check_processes(self.position, processes.count, output / CHECKPOINT)
        if processes.main:
            _start_logs(self.loss_csv, self.examples_csv, self.position["step"])
        self.step = self.position["step"]
        # elapsed_s in loss.csv counts training time across resumes (the checkpoint keeps it; older ones lack it)
        self.started = time.monotonic() - self.position.get("elapsed_s", 0.0)

    def micro_steps(self) -> Iterator[tuple[int, int, list[int]]]:
        """``(epoch, micro-step, epoch order)`` from the restored position to the end of the schedule."""
        for epoch in range(self.position["epoch"], math.ceil(self.total_steps / self.steps_per_epoch) + 1):
            if self.step >= self.total_steps:
                return
            order = _epoch_order(len(self.examples), self.settings.seed, epoch)
            first = self.position["batch"] if epoch == self.position["epoch"] else 0
            for micro in range(first, self.micro_per_epoch):
                if self.step >= self.total_steps:
                    return
                yield epoch, micro, order

    # -- one micro-step --------------------------------------------------------------------------------------
    def batch(self, micro: int, order: list[int]) -> tuple[dict[str, torch.Tensor], float] | None:
        """This process's share of the micro-step, encoded and collated, with its loss weight; ``None`` when a
        single process has nothing to train on (all its examples longer than ``max_length``)."""
        chosen = process_share(order, micro, self.processes.count, self.processes.index, self.settings.batch_size)
        encodings = [encode_example(self.encoder, self.examples[i]) for i in chosen]
        kept = [e for e in encodings if e.length <= self.settings.max_length]
        self.skipped += len(encodings) - len(kept)
        weight = 1.0
        if not kept:
            if self.processes.count == 1:
                return None
            # every process must take part in each synchronised backward pass: a zero-weight stand-in
            kept, weight = [encode_example(self.encoder, self.examples[order[0]])], 0.0
        self.totals.example_ids += [self.examples[i].id for i, e in zip(chosen, encodings)
                                    if e.length <= self.settings.max_length]
        return {k: v.to(self.accelerator.device) for k, v in collate(kept, self.pad_id).items()}, weight

    def step_batches(self) -> Iterator[list[tuple[int, int, dict[str, torch.Tensor], float]]]:
        """The prepared micro-batches ``(epoch, micro-step, batch, weight)`` of each optimizer step that is left:
        ``gradient_accumulation`` of them (fewer at the end of the schedule), encoded before any forward pass so
        that the step's token count is known (``loss_normalisation = "tokens"``)."""
        group: list[tuple[int, int, dict[str, torch.Tensor], float]] = []
        for epoch, micro, order in self.micro_steps():
            prepared = self.batch(micro, order)
            if prepared is None:
                continue
            group.append((epoch, micro, *prepared))
            if len(group) == self.settings.gradient_accumulation:
                yield group
                group = []
        if group:
            yield group

    def step_normaliser(self, group: list[tuple[int, int, dict[str, torch.Tensor], float]]) -> float | None:
        """What each micro-batch's summed loss is divided by so that the step's gradient is the mean over all
        its weighted tokens on all processes: that total, over the factors by which ``accelerator.backward``
        (1 / accumulation) and data-parallel averaging (1 / processes) scale it. ``None``: per-example means."""
        if self.settings.loss_normalisation == "examples":
            return None
        local = sum(loss_weight(batch, self.settings.decision_weight) * weight for _, _, batch, weight in group)
        (total,) = self.processes.sums(local)
        return max(total, 1.0) / (self.settings.gradient_accumulation * self.processes.count)

    def learn(self, batch: dict[str, torch.Tensor], weight: float, normaliser: float | None = None) -> None:
        """Forward, backward and (at the end of an accumulation) the optimizer update."""
        with self.accelerator.accumulate(self.model):
            loss = assistant_loss(self.model, batch, self.settings.decision_weight, normaliser)
            self.accelerator.backward(loss.objective * weight)
            self.optimizer.step()
            self.optimizer.zero_grad()
        if weight:
            self.totals.losses.append(loss.mean)
            if not math.isnan(loss.decision):
                self.totals.decisions.append(loss.decision)

    # -- one optimizer step ----------------------------------------------------------------------------------
    def end_step(self, epoch: int, on_step: Callable[[int, int, float], None] | None) -> None:
        """Step the schedule, average the step's loss over processes, log it and which examples it took."""
        self.scheduler.step()
        self.step += 1
        totals, processes = self.totals, self.processes
        loss_sum, loss_count, decision_sum, decision_count = processes.sums(
            sum(totals.losses), len(totals.losses), sum(totals.decisions), len(totals.decisions))
        step_loss = loss_sum / loss_count if loss_count else float("nan")
        decision_loss = decision_sum / decision_count if decision_count else float("nan")
        shares = processes.gather(totals.example_ids)
        self.totals = _StepTotals.empty()
        self.losses.append(step_loss)
        if not processes.main:
            return
        with self.examples_csv.open("a") as handle:
            handle.writelines(f"{self.step},{epoch},{rank},{' '.join(ids)}\n" for rank, ids in enumerate(shares))
        if self.step % self.settings.log_every == 0 or self.step == self.total_steps:
            with self.loss_csv.open("a") as handle:
                handle.write(f"{self.step},{epoch},{step_loss:.6f},{decision_loss:.6f},"
                             f"{self.scheduler.get_last_lr()[0]:.3e},{time.monotonic() - self.started:.1f}\n")
        if on_step:
            on_step(self.step, self.total_steps, step_loss)

    def checkpoint_due(self) -> bool:
        return self.step % self.settings.save_every == 0

    def save_checkpoint(self, epoch: int, micro: int) -> None:
        """A resumable checkpoint after micro-step ``micro`` of ``epoch`` (the main process writes it)."""
        epoch_done = micro + 1 == self.micro_per_epoch  # resume at the next epoch's first micro-step
        position = {"step": self.step, "epoch": epoch + 1 if epoch_done else epoch,
                    "batch": 0 if epoch_done else micro + 1, "elapsed_s": time.monotonic() - self.started,
                    "data_sha256": self.fingerprint, "processes": self.processes.count}
        if self.processes.main:
            _save_checkpoint(self.output / CHECKPOINT, self.accelerator.unwrap_model(self.model), self.optimizer,
                             self.scheduler, position)
        self.processes.barrier()

    # -- the end ---------------------------------------------------------------------------------------------
    def result(self, adapter_dir: Path | None = None, stopped: bool = False) -> TrainResult:
        return TrainResult(adapter_dir, self.step, tuple(self.losses), self.skipped, stopped=stopped,
                           total_steps=self.total_steps)

    def save_adapter(self) -> Path:
        """The finished adapter (loads in vLLM and the planner backends), its training config and the loss plot."""
        adapter_dir = self.output / ADAPTER
        if self.processes.main:
            self.accelerator.unwrap_model(self.model).save_pretrained(adapter_dir)
            _name_base_model(adapter_dir, self.config.model)
            (adapter_dir / "groundex_training.json").write_text(self.config.model_dump_json(indent=2))
            if self.loss_csv.read_text().count("\n") > 1:
                write_loss_plot(self.loss_csv, self.output / "loss.png")
        self.processes.barrier()
        return adapter_dir


def train(config: TrainConfig, on_step: Callable[[int, int, float], None] | None = None,
          stop_requested: Callable[[], bool] = lambda: False) -> TrainResult:
    """Run (or resume) training; ``on_step(step, total_steps, loss)`` is called after each optimizer step.

    ``stop_requested`` is asked after each optimizer step (and once before the first): when it says yes (on any
    process), every process ends after that step, one checkpoint is saved there and ``stopped`` is returned, so a
    resume loses no step.

    Data-parallel under ``accelerate launch`` / ``torchrun``: each process trains on its own share of each epoch
    (``process_share``); an optimizer step takes ``batch_size x gradient_accumulation x processes`` examples (the
    recipe fixes the per-process numbers); the learning-rate schedule counts these global steps. Only the main
    process writes loss.csv (the loss averaged over processes), trained_examples.csv, checkpoints and the adapter.
    """
    main = int(os.environ.get("RANK", "0")) == 0
    # one run per output_dir: a second `finetune train` on it is refused at once, naming the first
    lock = RunFolderLock(config.output_dir, "groundex finetune train").acquire() if main else None
    try:
        return _train(config, on_step, stop_requested)
    finally:
        if lock is not None:
            lock.release()


def _train(config: TrainConfig, on_step: Callable[[int, int, float], None] | None,
           stop_requested: Callable[[], bool]) -> TrainResult:
    run = _TrainingRun(config)
    run.restore()
    run.model.train()
    if run.processes.any(stop_requested()):  # asked while the model was loading: nothing new to save
        return run.result(stopped=True)
    for group in run.step_batches():
        normaliser = run.step_normaliser(group)
        for _, _, batch, weight in group:
            run.learn(batch, weight, normaliser)
        if not run.accelerator.sync_gradients:
            continue
        epoch, micro = group[-1][0], group[-1][1]
        run.end_step(epoch, on_step)
        stopping = run.processes.any(run.step < run.total_steps and stop_requested())
        if run.checkpoint_due() or stopping:
            run.save_checkpoint(epoch, micro)
        if stopping:
            return run.result(stopped=True)
    return run.result(run.save_adapter())


def _start_logs(loss_csv: Path, examples_csv: Path, step: int) -> None:
    """Fresh logs at step 0; on a resume keep the rows up to the checkpoint's step (the steps after it are redone)."""
    for path, header in ((loss_csv, LOSS_HEADER), (examples_csv, EXAMPLES_HEADER)):
        if step == 0 or not path.is_file():
            path.write_text(header + "\n")
            continue
        rows = path.read_text().splitlines()
        path.write_text("\n".join([rows[0], *[r for r in rows[1:] if int(r.split(",")[0]) <= step]]) + "\n")
