"""The vllm-offline planner in its own process (vLLM spawns workers: the __main__ guard is required).

python -m tests.support.vllm_offline_worker WORK_DIR: builds a tiny Qwen2 text model and a LoRA adapter for it, builds
the planner as a profile does (the registry merges the adapter into a copy under WORK_DIR/models/merged/, which vLLM
serves), plans the four posts of examples/mini-gmner concurrently through the graph, and writes {"batch_sizes": [...],
"peak_in_flight": K, "posts": N, "served": <model directory>} to WORK_DIR/report.json (not stdout: vLLM logs there
while it shuts down).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path


def main(work: Path) -> None:
    from groundex.agent.backends.registry import build_planner
    from groundex.agent.config import PlannerSettings
    from groundex.agent.extractor import Extractor
    from groundex.agent.toolbox import Toolbox
    from groundex.agent.type_presets import load_preset
    from groundex.eval.datasets import load_split
    from groundex.eval.runner import PredictionLog, run_posts
    from tests.support.tiny_models import build_lora_adapter, build_tiny_qwen2_text

    model = build_tiny_qwen2_text(work / "model")
    adapter = build_lora_adapter(model, work / "adapter")
    settings = PlannerSettings(backend="vllm-offline", model=str(model), adapter=str(adapter), family="text",
                               max_new_tokens=24, kv_cache_gib=1, enforce_eager=True)
    planner = build_planner(settings, work)
    posts = load_split("twitter-gmner", Path(__file__).resolve().parents[2] / "examples" / "mini-gmner", "dev")
    log = PredictionLog(work / "predictions.jsonl")
    toolbox = Toolbox(planner=planner, entailment=None, grounding=None, segmentation_factory=lambda: None)
    try:
        asyncio.run(run_posts(posts, Extractor(toolbox), load_preset("gmner"), log, concurrency=4))
    finally:
        log.close()
    (work / "report.json").write_text(json.dumps({"batch_sizes": planner.batch_sizes, "peak_in_flight": planner.peak_in_flight,
                                                       "posts": len(log.done), "served": planner.model_id,
                                                       "adapter": planner.adapter}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
