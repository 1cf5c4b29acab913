"""Benchmark (b): SAM segmentation cost for 8 boxes vs 1 box on one image.

Uses segment_anything's ViT-B architecture (random weights: no checkpoint can be fetched here; the cost does
not depend on the weights) through the groundex segmentation tool. Each measurement uses a new image key, so
it includes the image embedding, as the first call for a post does. Run: python bench/segmentation_batch.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from groundex.agent.schema import Box  # noqa: E402
from groundex.tools.sam_predictor import segment_anything_builders  # noqa: E402
from groundex.tools.segmentation import SamSegmenter  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    builders = segment_anything_builders()
    segmenter = SamSegmenter(builders.sam_model_registry["vit_b"](checkpoint=None).eval())
    image = Image.effect_noise((640, 480), 60).convert("RGB")
    boxes = [Box(20 + 70 * i, 40, 80 + 70 * i, 400) for i in range(8)]
    segmenter.segment(image, "warm-up", boxes[:1])
    timings = {1: [], 8: []}
    for repeat in range(args.repeats):
        for count in (1, 8):
            start = time.perf_counter()
            masks = segmenter.segment(image, f"image-{repeat}-{count}", boxes[:count])
            timings[count].append(time.perf_counter() - start)
            assert len(masks) == count
    one, eight = statistics.median(timings[1]), statistics.median(timings[8])
    print(f"SAM ViT-B on {image.width}x{image.height}, torch threads: {torch.get_num_threads()}, repeats: {args.repeats}")
    print(f"1 box  (embedding + decode): {one:7.3f} s (median)")
    print(f"8 boxes (embedding + decode): {eight:7.3f} s (median)")
    print(f"8 boxes / 1 box:              {eight / one:7.3f} x   (target <= 1.2 x)")
    print(f"image embeddings computed:    {segmenter.embeddings_computed} for {1 + 2 * args.repeats} image keys")


if __name__ == "__main__":
    main()
