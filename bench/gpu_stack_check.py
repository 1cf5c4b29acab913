"""The flagship path's GPU parts, end to end on tiny random models (run by bench/gpu_check.sh; runs on CPU too).

1. A short LoRA training of a tiny random Qwen2.5-VL with the GPU recipe's settings (finetune/recipes/
   qwen2.5-vl-7b.toml: bf16 where supported, gradient checkpointing, its min/max pixels, rank and targets), on
   the four mini posts with images; then the adapter loaded by the transformers planner, which answers one post
   through the graph and the MLLM entailment and grounding questions.
2. SAM through ``SamSegmenter`` (``segment_anything.SamPredictor`` where torchvision imports) with 8 boxes.

Prints one ``check <name>: pass|fail (<seconds> s) <detail>`` line per check and ``checks: P passed, F failed``
last; exits 1 when a check failed. ``--steps`` sets the training length (default 20).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support (tiny models) lives in the checkout


def _device_summary() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)}, bf16 {torch.cuda.is_bf16_supported()})"
    return "cpu"


def check_training(work: Path, steps: int) -> str:
    import torch
    from groundex.eval.datasets import load_split
    from groundex.finetune.config import load_train_config
    from groundex.finetune.data import DataRecipe, build_dataset, write_examples
    from groundex.finetune.train import train
    from PIL import Image

    from tests.support.tiny_models import build_tiny_qwen2_5_vl

    model_dir = build_tiny_qwen2_5_vl(work / "tiny-qwen2.5-vl")
    images = work / "images"
    images.mkdir()
    for annotated in load_split("twitter-gmner", REPO / "examples" / "mini-gmner", "dev"):
        size = annotated.post.image_size  # the box files' sizes, so the gold boxes fit the images
        pixels = (size.width, size.height) if size else (640, 480)
        Image.effect_noise(pixels, 40).convert("RGB").save(images / f"{annotated.post.id}.jpg")
    examples = build_dataset(DataRecipe(dataset="twitter-gmner", split="dev", text_only=False, seed=0),
                             REPO / "examples" / "mini-gmner", image_dir=images)
    data = work / "sft.jsonl"
    write_examples(data, examples)
    recipe = load_train_config(REPO / "finetune" / "recipes" / "qwen2.5-vl-7b.toml")
    config = recipe.model_copy(update={
        "model": str(model_dir), "data": data, "output_dir": work / "run", "resume_from": None,
        "training": recipe.training.model_copy(update={"max_steps": steps, "gradient_accumulation": 1,
                                                       "learning_rate": 1e-2, "save_every": steps, "warmup_ratio": 0.0}),
    })
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = train(config)
    seconds = time.perf_counter() - started
    first, last = sum(result.losses[:3]) / 3, sum(result.losses[-3:]) / 3
    if not last < first:
        raise AssertionError(f"the loss did not fall: {first:.3f} -> {last:.3f}")
    peak = f", peak {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if torch.cuda.is_available() else ""
    training = (f"{result.steps} steps in {seconds:.1f} s ({seconds / result.steps:.2f} s/step), loss {first:.3f} -> "
                f"{last:.3f}, gradient checkpointing {config.training.gradient_checkpointing}, precision "
                f"{config.training.precision}, pixels {config.images.min_pixels}-{config.images.max_pixels}{peak}")

    from groundex.agent import Entity, ExtractionOptions, Post, load_preset
    from groundex.agent.backends.transformers_backend import TransformersPlanner
    from groundex.agent.extractor import Extractor
    from groundex.agent.prompting import entailment_question, grounding_question
    from groundex.agent.toolbox import Toolbox
    from groundex.tools.entailment import MllmEntailment
    from groundex.tools.grounding import MllmGrounding

    planner = TransformersPlanner(model_id=str(model_dir), adapter=str(result.adapter_dir), max_new_tokens=48,
                                  min_pixels=config.images.min_pixels, max_pixels=config.images.max_pixels)
    device = next(planner._loaded.model.parameters()).device
    image_path = next(images.glob("*.jpg"))
    toolbox = Toolbox(planner=planner, entailment=MllmEntailment(planner, entailment_question, threshold=0.0),
                      grounding=MllmGrounding(planner, grounding_question), segmentation_factory=lambda: None)
    started = time.perf_counter()
    answer = Extractor(toolbox).extract(Post("gpu-check", "Messi scores again for Barcelona", image_path=image_path),
                                        load_preset("gmner"), ExtractionOptions(boxes=True))
    probability = planner.yes_probability(Image.open(image_path).convert("RGB"),
                                          entailment_question(Entity("Messi", 0, 5, "PER")))
    if not 0.0 <= probability <= 1.0:
        raise AssertionError(f"P(yes) = {probability}")
    return (f"{training}; planner on {device}, one post through the graph in {time.perf_counter() - started:.2f} s "
            f"({len(answer.prediction.triples)} entities from random weights), P(yes) {probability:.3f}")


def check_sam() -> str:
    import numpy as np
    import torch
    from groundex.agent import Box
    from groundex.tools.segmentation import SamSegmenter
    from PIL import Image

    from tests.support.tiny_models import build_tiny_sam

    segmenter = SamSegmenter(build_tiny_sam())
    kind = type(segmenter.predictor).__name__
    image = Image.effect_noise((640, 480), 60).convert("RGB")
    boxes = [Box(10 + 60 * i, 10 + 40 * i, 90 + 60 * i, 120 + 40 * i) for i in range(8)]
    segmenter.segment(image, "warm-up", boxes[:1])
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    masks = segmenter.segment(image, "gpu-check", boxes)
    seconds = time.perf_counter() - started
    if len(masks) != 8 or any(mask.size != (480, 640) for mask in masks):
        raise AssertionError(f"{len(masks)} masks of sizes {[m.size for m in masks]}")
    predictor = segmenter.predictor
    sam = predictor.model if hasattr(predictor, "model") else predictor.predictor.model
    device = next(sam.parameters()).device
    covered = float(np.mean([mask.to_array().mean() for mask in masks]))
    return f"{kind} on {device}: 8 boxes, one embedding, {seconds * 1000:.0f} ms; mean mask cover {covered:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    print(f"device: {_device_summary()}", flush=True)
    results = []
    with tempfile.TemporaryDirectory() as work:
        for name, run in (("lora-training-qwen2.5-vl", lambda: check_training(Path(work), args.steps)),
                          ("sam-predictor-8-boxes", check_sam)):
            started = time.perf_counter()
            try:
                detail, passed = run(), True
            except Exception:  # a failure here is the finding: print it whole and go on to the next check
                detail, passed = traceback.format_exc(limit=8), False
            results.append(passed)
            print(f"check {name}: {'pass' if passed else 'fail'} ({time.perf_counter() - started:.1f} s) {detail}",
                  flush=True)
    print(f"checks: {sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
