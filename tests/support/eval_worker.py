"""A benchmark run in its own process (for the kill-and-resume test): python -m tests.support.eval_worker
DATA IMAGES OUT DELAY_S. Uses the oracle planner and shape tools of tests.support."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from groundex.agent.extractor import Extractor
from groundex.agent.type_presets import load_preset
from groundex.eval.datasets import load_split
from groundex.eval.runner import PredictionLog, run_posts
from tests.support.scripted import synthetic_oracle, synthetic_tools


def main(data: Path, images: Path, out: Path, delay_s: float) -> None:
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    log = PredictionLog(out / "predictions.jsonl")
    extractor = Extractor(synthetic_tools(synthetic_oracle(posts, delay_s)))
    try:
        asyncio.run(run_posts(posts, extractor, load_preset("gmner"), log, concurrency=2))
    finally:
        log.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
