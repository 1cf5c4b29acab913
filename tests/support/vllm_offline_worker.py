"""The vllm-offline planner in its own process (vLLM spawns workers: the __main__ guard is required).

python -m tests.support.vllm_offline_worker WORK_DIR: builds a tiny Qwen2 text model, plans the four posts of
examples/mini-gmner concurrently through the graph, and writes {"batch_sizes": [...], "peak_in_flight": K,
"posts": N} to
WORK_DIR/report.json (not stdout: vLLM logs there while it shuts down).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


def main(work: Path) -> None:
    from groundex.agent.backends.vllm_offline import VllmOfflinePlanner
    from groundex.agent.extractor import Extractor
    from groundex.agent.toolbox import Toolbox
    from groundex.agent.type_presets import load_preset
    from groundex.eval.datasets import load_split
    from groundex.eval.runner import PredictionLog, run_posts
    from tests.support.tiny_models import build_tiny_qwen2_text

    model = build_tiny_qwen2_text(work / "model")
    planner = VllmOfflinePlanner(model_id=str(model), model_family="text", max_new_tokens=24, max_model_len=4096,
                                 enforce_eager=True, kv_cache_bytes=2**30)
    posts = load_split("twitter-gmner", Path(__file__).resolve().parents[2] / "examples" / "mini-gmner", "dev")
    log = PredictionLog(work / "predictions.jsonl")
    toolbox = Toolbox(planner=planner, entailment=None, grounding=None, segmentation_factory=lambda: None)
    try:
        asyncio.run(run_posts(posts, Extractor(toolbox), load_preset("gmner"), log, concurrency=4))
    finally:
        log.close()
    (work / "report.json").write_text(json.dumps({"batch_sizes": planner.batch_sizes, "peak_in_flight": planner.peak_in_flight,
                                                       "posts": len(log.done)}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
