"""Benchmark (c): planner throughput of a benchmark run against the number of posts in flight (``--concurrency``).

Loads one profile's planner once (default ``cpu-vllm``: the Gemma 3 270M planner with the shipped adapter, in
process through vLLM, whose engine loop batches the posts in flight continuously), then plans the same
first N Twitter-GMNER dev posts, text-only, once per concurrency, through the real graph and the run's own
``run_posts``, and prints posts/s for each and the ratio to the first. Needs ``../shared/data`` (or --data).
Run: python bench/planner_concurrency.py [--posts 96] [--concurrency 16,32,64] [--profile cpu-vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from groundex.agent.config import load_settings  # noqa: E402
from groundex.agent.extractor import Extractor  # noqa: E402
from groundex.agent.type_presets import load_preset  # noqa: E402
from groundex.eval.datasets import load_split  # noqa: E402
from groundex.eval.predictions import read_predictions  # noqa: E402
from groundex.eval.runner import PredictionLog, run_posts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--posts", type=int, default=96, help="first N dev posts, planned once per concurrency")
    parser.add_argument("--concurrency", default="16,32,64", help="comma-separated posts in flight")
    parser.add_argument("--profile", default="cpu-vllm")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    settings = load_settings(profile=args.profile)
    posts = load_split("twitter-gmner", args.data, "dev")[:args.posts]
    schema = load_preset("gmner")
    started = time.perf_counter()
    extractor = Extractor.from_settings(settings)
    load_s = time.perf_counter() - started
    warm = PredictionLog(Path(tempfile.mkdtemp()) / "warm-up.jsonl")
    asyncio.run(run_posts(posts[:2], extractor, schema, warm, concurrency=2))  # first-call costs out of the timings
    warm.close()

    rates, answers = {}, {}
    for level in levels:
        log = PredictionLog(Path(tempfile.mkdtemp()) / f"c{level}.jsonl")
        started = time.perf_counter()
        stats = asyncio.run(run_posts(posts, extractor, schema, log, concurrency=level))
        seconds = time.perf_counter() - started
        log.close()
        rates[level] = stats.ran / seconds
        answers[level] = {p.post_id: p.triples for p in read_predictions(log.path)}
        print(f"concurrency {level:3d}: {stats.ran} posts in {seconds:7.1f} s = {rates[level]:.3f} posts/s", flush=True)
    first = levels[0]
    print(f"profile {args.profile} ({settings.active.planner.backend}), planner load {load_s:.1f} s, "
          f"{len(posts)} dev posts, text-only")
    for level in levels:
        # greedy decoding, yet batches of other sizes round differently: a few answers change
        differ = sum(answers[level][post_id] != triples for post_id, triples in answers[first].items())
        print(f"posts/s at concurrency {level:3d} / at {first}: {rates[level] / rates[first]:.3f} x; "
              f"posts predicted differently: {differ} of {len(answers[first])}")


if __name__ == "__main__":  # vLLM starts its workers with spawn
    main()
