"""Chat-turn latency of a profile, one post at a time as the chat and `groundex extract` run them (warm process).

Loads each profile once, plans one post untimed (first-call costs out), then times N posts: by default the first
32 Twitter-GMNER dev posts, text-only, and 5 hand-written posts with the example images. Prints per-post median
and p90 seconds, tokens generated, and the planner's prompt (prefill) / decoding split where the backend reports
it (the transformers backend does). ``--compare PROFILE`` times a second profile in the same process run; the last
line reads ``latency <median s> s/post, <ratio>x vs <baseline>``, where ratio is this profile's median over the
baseline's (below 1: faster). Run it with nothing else on the machine.

    python bench/cpu_latency.py --profile cpu --compare spacy-baseline
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402

from groundex.agent import ExtractionOptions, Extractor, Post, build_toolbox, load_preset, load_settings  # noqa: E402
from groundex.eval.datasets import load_split  # noqa: E402

IMAGE_POSTS = [
    ("astronaut", "Eileen Collins in her orange flight suit before the launch # NASA"),
    ("astronaut", "RT @ NASA : Commander Eileen Collins waves before boarding Columbia at Kennedy Space Center"),
    ("coffee", "Morning coffee at Starbucks in Seattle before the Microsoft keynote"),
    ("coffee", "Best flat white in London is at Monmouth Coffee , says Jamie Oliver"),
    ("astronaut", "Lionel Messi and Neymar celebrate with Barcelona fans at Camp Nou after beating Real Madrid"),
]


@dataclass(frozen=True)
class Timed:
    seconds: float
    generated_tokens: int | None
    prefill_s: float | None
    decode_s: float | None


def bench_posts(data: Path, count: int) -> list[Post]:
    dev = [a.post for a in load_split("twitter-gmner", data, "dev")[:count]]
    images = REPO / "examples" / "images"
    return [*dev, *(Post(f"example-{i}", text, image_path=images / f"{name}.png")
                    for i, (name, text) in enumerate(IMAGE_POSTS))]


def time_profile(profile: str, posts: list[Post]) -> list[Timed]:
    settings = load_settings(profile=profile)
    extractor = Extractor(build_toolbox(settings), InMemorySaver())
    types = load_preset("gmner")
    extractor.extract(posts[0], types, ExtractionOptions(boxes=True), thread_id="warm-up")
    timed = []
    for post in posts:
        thread = uuid.uuid4().hex
        started = time.perf_counter()
        extractor.extract(post, types, ExtractionOptions(boxes=post.image_path is not None), thread_id=thread)
        seconds = time.perf_counter() - started
        reply = next(m for m in reversed(extractor.thread_state(thread).messages) if m.type == "ai")
        timing = reply.response_metadata.get("timing")
        timed.append(Timed(seconds, timing["generated_tokens"] if timing else None,
                           timing["prefill_s"] if timing else None,
                           timing["total_s"] - timing["prefill_s"] if timing else None))
        print(f"  {profile} {post.id}: {seconds:.2f} s" + (f", {timing['generated_tokens']} tokens" if timing else ""),
              flush=True)
    return timed


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def summary(profile: str, timed: list[Timed]) -> float:
    seconds = [t.seconds for t in timed]
    median = statistics.median(seconds)
    line = f"{profile}: {len(timed)} posts, median {median:.3f} s, p90 {p90(seconds):.3f} s"
    if all(t.generated_tokens is not None for t in timed):
        line += (f"; tokens generated median {statistics.median(t.generated_tokens for t in timed):.0f}, "
                 f"prefill median {statistics.median(t.prefill_s for t in timed):.3f} s, "
                 f"decoding median {statistics.median(t.decode_s for t in timed):.3f} s")
    print(line, flush=True)
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--compare", default="spacy-baseline", help="baseline profile, timed in the same run")
    parser.add_argument("--posts", type=int, default=32, help="first N dev posts (text-only), plus 5 with images")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    posts = bench_posts(args.data, args.posts)
    medians = {}
    for profile in (args.profile, args.compare):
        medians[profile] = summary(profile, time_profile(profile, posts))
    ratio = medians[args.profile] / medians[args.compare]
    print(f"latency {medians[args.profile]:.3f} s/post, {ratio:.2f}x vs {args.compare}")


if __name__ == "__main__":
    main()
