"""Benchmark (a): graph + validation overhead per post, relative to the time spent in the model and tools.

The planner answers instantly (a scripted reply with 3 entities and 3 locate_entity calls per post), so
everything measured is either tool/model work or orchestration. The MLLM entailment and grounding tools run a
real (tiny, random-weight) Qwen2-VL through the transformers backend. Every tool call is timed as an interval;
branches run concurrently, so the model/tool time is the union of those intervals (time during which at least
one call is running), and overhead = wall time - that union. Run: python bench/orchestration_overhead.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from groundex.agent.backends.transformers_backend import TransformersPlanner  # noqa: E402
from groundex.agent.contract import PlannedEntity  # noqa: E402
from groundex.agent.extractor import Extractor  # noqa: E402
from groundex.agent.schema import Post  # noqa: E402
from groundex.agent.prompting import entailment_question, grounding_question  # noqa: E402
from groundex.agent.toolbox import Toolbox  # noqa: E402
from groundex.agent.type_presets import load_preset  # noqa: E402
from groundex.tools.entailment import MllmEntailment  # noqa: E402
from groundex.tools.grounding import MllmGrounding  # noqa: E402
from tests.support.scripted import planner_reply, scripted_planner  # noqa: E402
from tests.support.tiny_models import build_tiny_qwen2_vl  # noqa: E402


class Timed:
    """Wraps an object and records the (start, end) of each call of ``method`` in a shared list."""

    def __init__(self, inner, method: str, intervals: list, lock: threading.Lock):
        self.inner, self.method, self.intervals, self.lock = inner, method, intervals, lock

    def __getattr__(self, name):
        attribute = getattr(self.inner, name)
        if name != self.method:
            return attribute

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                with self.lock:
                    self.intervals.append((start, time.perf_counter()))
        return timed


def union_length(intervals: list[tuple[float, float]]) -> float:
    """Total time covered by at least one interval."""
    covered, current_start, current_end = 0.0, None, None
    for start, end in sorted(intervals):
        if current_end is None or start > current_end:
            if current_end is not None:
                covered += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    return covered + (current_end - current_start if current_end is not None else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    model = TransformersPlanner(model_id=str(build_tiny_qwen2_vl(work / "qwen")), max_new_tokens=16)
    image = work / "post.png"
    Image.effect_noise((640, 480), 60).convert("RGB").save(image)
    text = "Messi met Ronaldo in Madrid"
    entities = [PlannedEntity("Messi", "PER", "Messi", 0, "c1"), PlannedEntity("Ronaldo", "PER", "Ronaldo", 10, "c2"),
                PlannedEntity("Madrid", "LOC", "Madrid", 21, "c3")]
    intervals, lock = [], threading.Lock()
    toolbox = Toolbox(
        planner=scripted_planner(*[planner_reply(entities) for _ in range(args.posts + 1)]),
        entailment=Timed(MllmEntailment(model, entailment_question, threshold=0.0), "visibility", intervals, lock),
        grounding=Timed(MllmGrounding(model, grounding_question), "locate", intervals, lock),
        segmentation_factory=lambda: None)
    extractor = Extractor(toolbox)
    types = load_preset("gmner")
    extractor.extract(Post("warm-up", text, image_path=image), types)  # first-call costs (image cache, kernels)
    intervals.clear()
    start = time.perf_counter()
    for index in range(args.posts):
        extractor.extract(Post(f"p{index}", text, image_path=image), types)
    wall = time.perf_counter() - start
    busy = union_length(intervals)
    overhead = wall - busy
    print(f"posts: {args.posts}, entities per post: 3 (6 tool calls per post)")
    print(f"wall time per post:            {1000 * wall / args.posts:8.1f} ms")
    print(f"model + tool time per post:    {1000 * busy / args.posts:8.1f} ms  (union of concurrent calls)")
    print(f"orchestration per post:        {1000 * overhead / args.posts:8.1f} ms")
    print(f"overhead / model+tool time:    {100 * overhead / busy:8.2f} %   (target <= 2 %)")


if __name__ == "__main__":
    main()
