"""Benchmark (c): planner throughput of a benchmark run against the number of posts in flight (``--concurrency``).

Loads one profile's planner once (default ``cpu-vllm``: the Gemma 3 270M planner with the shipped adapter merged
into its weights, in process through vLLM, whose engine loop batches the posts in flight continuously), then
plans the same first N Twitter-GMNER dev posts, text-only, once per concurrency, through the real graph and the
run's own ``run_posts``, and prints posts/s for each and the ratio to the first. ``--compare PROFILE`` does the
same for a baseline profile in the same process run (for example ``cpu-vllm-lora`` from
``examples/configs/cpu-vllm-lora.toml``: the adapter applied per request by vLLM's LoRA kernels), and the last
line reads ``throughput <posts/s> posts/s, <ratio>x vs <baseline>`` at the first concurrency (a check parses it).
Needs ``../shared/data`` (or --data). Nothing else should run on the machine.
Run: python bench/planner_concurrency.py [--posts 96] [--concurrency 16,64] [--profile cpu-vllm] [--compare P]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from groundex.agent.config import load_settings  # noqa: E402
from groundex.agent.extractor import Extractor  # noqa: E402
from groundex.agent.schema import Post  # noqa: E402
from groundex.agent.type_presets import load_preset  # noqa: E402
from groundex.eval.datasets import load_split  # noqa: E402
from groundex.eval.predictions import read_predictions  # noqa: E402
from groundex.eval.runner import PredictionLog, run_posts  # noqa: E402


@dataclass(frozen=True)
class Throughput:
    """One profile's run: posts/s at each concurrency, the planner's load time (s) and its triples per post."""

    profile: str
    backend: str
    load_s: float
    posts_per_s: dict[int, float]
    answers: dict[int, dict[str, object]]


def measure(profile: str, posts: list[Post], levels: list[int]) -> Throughput:
    settings = load_settings(profile=profile)
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
        print(f"{profile}: concurrency {level:3d}: {stats.ran} posts in {seconds:7.1f} s = {rates[level]:.3f} posts/s",
              flush=True)
    return Throughput(profile, settings.active.planner.backend, load_s, rates, answers)


def report(run: Throughput, levels: list[int], count: int) -> None:
    first = levels[0]
    print(f"profile {run.profile} ({run.backend}), planner load {run.load_s:.1f} s, {count} dev posts, text-only")
    for level in levels:
        # greedy decoding, yet batches of other sizes round differently: a few answers change
        differ = sum(run.answers[level][post_id] != triples for post_id, triples in run.answers[first].items())
        print(f"  posts/s at concurrency {level:3d} / at {first}: {run.posts_per_s[level] / run.posts_per_s[first]:.3f} x; "
              f"posts predicted differently: {differ} of {len(run.answers[first])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--posts", type=int, default=96, help="first N dev posts, planned once per concurrency")
    parser.add_argument("--concurrency", default="16,64", help="comma-separated posts in flight")
    parser.add_argument("--profile", default="cpu-vllm")
    parser.add_argument("--compare", default=None, help="baseline profile, run in the same process run")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    posts = load_split("twitter-gmner", args.data, "dev")[:args.posts]

    runs = [measure(profile, posts, levels) for profile in filter(None, (args.profile, args.compare))]
    for run in runs:
        report(run, levels, len(posts))
    if args.compare:
        main_run, baseline = runs
        first = levels[0]
        same = sum(baseline.answers[first][post_id] == triples for post_id, triples in main_run.answers[first].items())
        print(f"posts predicted identically by {args.profile} and {args.compare} at {first}: {same} of {len(posts)}")
        print(f"throughput {main_run.posts_per_s[first]:.3f} posts/s, "
              f"{main_run.posts_per_s[first] / baseline.posts_per_s[first]:.2f}x vs {args.compare}")


if __name__ == "__main__":  # vLLM starts its workers with spawn
    main()
