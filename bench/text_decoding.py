"""The fast text decoder against transformers' ``generate``: same answers? how much faster? (warm, one post at a time)

Plans the first N Twitter-GMNER dev posts (text-only, the gmner types) with the profile's planner decoded by
``generate`` (the reference, float32) and by ``GreedyTextDecoder`` with its changes added one at a time: the own
loop, the reuse of the last prompt's KV cache, prompt-lookup drafts, the trimmed output layer (all float32), and
the profile's weight type (``planner.dtype``; auto is bf16 on a CPU with native bf16 matmuls). For each it prints seconds per post (median and mean), forward passes, steps that fell back to the
whole output layer, and how many raw answers equal the reference's character for character; the posts whose
answers differ are listed. The last line reads ``decoding <median s> s/post, <ratio>x vs generate, <same>/<N>
answers identical`` for the default options. Run it with nothing else on the machine.

    python bench/text_decoding.py --profile cpu --posts 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from langchain_core.messages import HumanMessage, SystemMessage  # noqa: E402

from groundex.agent import load_preset, load_settings  # noqa: E402
from groundex.agent.backends.registry import build_planner  # noqa: E402
from groundex.agent.backends.text_decoding import DecodingOptions  # noqa: E402
from groundex.agent.contract import planner_tools, resolve_answer_style  # noqa: E402
from groundex.agent.prompting import system_text, user_text  # noqa: E402
from groundex.eval.datasets import load_split  # noqa: E402

# (decoding options, weight type) per row; None options: transformers' generate. float32 up to the trimmed output
# layer; the default adds the profile's planner.dtype (auto: bf16 on a CPU with native bf16 matmuls)
VARIANTS: dict[str, tuple[DecodingOptions | None, str]] = {
    "generate": (None, "float32"),
    "own loop": (DecodingOptions(draft_tokens=0, trim_vocabulary=False, reuse_prefix=False), "float32"),
    "+ prompt-prefix KV reuse": (DecodingOptions(draft_tokens=0, trim_vocabulary=False), "float32"),
    "+ drafts": (DecodingOptions(trim_vocabulary=False), "float32"),
    "+ drafts + trimmed vocabulary": (DecodingOptions(), "float32"),
    "+ the profile's dtype (default)": (DecodingOptions(), "profile"),
}
DEFAULT = "+ the profile's dtype (default)"


@dataclass(frozen=True)
class Answered:
    raw: str
    seconds: float
    forward_passes: int | None
    full_vocabulary_steps: int | None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--posts", type=int, default=50)
    parser.add_argument("--types", default="gmner", help="a type preset (gmner, fmnerg, fmnerg-zero-shot, ...)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--quick", action="store_true", help="only generate and the default options")
    args = parser.parse_args()
    settings = load_settings(profile=args.profile)
    planner_settings = settings.active.planner
    if planner_settings.backend != "transformers":
        sys.exit(f"profile {args.profile!r} uses planner backend {planner_settings.backend!r}; this compares the "
                 "transformers backend's decoders")
    types = load_preset(args.types)
    style = resolve_answer_style(planner_settings.answer_style, multimodal=False)
    posts = [a.post for a in load_split("twitter-gmner", args.data, "dev")[:args.posts]]
    conversations = [[SystemMessage(system_text(types, False, style)), HumanMessage(user_text(post))] for post in posts]
    base = build_planner(planner_settings, settings.cache_dir)
    results: dict[str, list[Answered]] = {}
    variants = {n: o for n, o in VARIANTS.items() if not args.quick or n in ("generate", DEFAULT)}
    for name, (options, dtype) in variants.items():
        planner = base.model_copy(update={"decoding": options, "dtype": planner_settings.dtype if dtype == "profile" else dtype})
        planner.model_post_init(None)
        bound = planner.bind_tools(planner_tools(style))
        bound.invoke(conversations[0])  # warm-up, untimed
        answered = []
        for conversation in conversations:
            started = time.perf_counter()
            reply = bound.invoke(conversation)
            timing = reply.response_metadata["timing"]
            answered.append(Answered(reply.response_metadata["raw"], time.perf_counter() - started,
                                     timing.get("forward_passes"), timing.get("full_vocabulary_steps")))
        results[name] = answered
        report(name, answered, results["generate"], posts)
    default = results[DEFAULT]
    median = statistics.median(a.seconds for a in default)
    ratio = median / statistics.median(a.seconds for a in results["generate"])
    same = sum(a.raw == b.raw for a, b in zip(default, results["generate"]))
    print(f"decoding {median:.3f} s/post, {ratio:.2f}x vs generate, {same}/{len(posts)} answers identical")


def report(name: str, answered: list[Answered], reference: list[Answered], posts: list) -> None:
    seconds = [a.seconds for a in answered]
    same = sum(a.raw == b.raw for a, b in zip(answered, reference))
    line = (f"{name}: median {statistics.median(seconds):.3f} s/post, mean {statistics.mean(seconds):.3f} s, "
            f"{same}/{len(answered)} answers identical to generate")
    if answered[0].forward_passes is not None:
        line += (f", forward passes mean {statistics.mean(a.forward_passes for a in answered):.1f}, "
                 f"whole-vocabulary steps {sum(a.full_vocabulary_steps or 0 for a in answered)}")
    print(line, flush=True)
    for post, a, b in zip(posts, answered, reference):
        if a.raw != b.raw:
            print(f"  differs on {post.id}: {a.raw[:160]!r}\n    generate: {b.raw[:160]!r}", flush=True)


if __name__ == "__main__":
    main()
