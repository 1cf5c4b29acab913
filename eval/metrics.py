"""The one scorer: GMNER, MNER and EEG micro precision / recall / F1, overall and per type.

The scoring protocol (``ScoringProtocol``; defined here and nowhere else):
- A predicted triple is **correct for GMNER** iff its character span equals a gold mention's span exactly, its
  type equals the gold type, and its region is correct.
- **MNER** ignores the region (span + type); **EEG** ignores the type (span + region).
- A region is correct iff the gold mention is ungroundable and the prediction has no region (box and mask both
  ``None``), or the gold mention is groundable and the predicted box has IoU >= threshold (``> threshold`` with
  ``strict_iou``, as in the GMNER paper's scorer) with ANY of the gold boxes. IoU is computed on continuous
  pixel coordinates (no "+1").
- With ``region="mask"`` (SMNER), the region is compared by mask IoU wherever both the prediction and the gold
  have masks, and by box IoU otherwise.
- Matching is one-to-one: each gold mention is matched at most once. Because a span carries at most one gold
  mention, this means: a gold mention is found iff at least one prediction on its span is correct; every other
  prediction (duplicates included) is a false positive. Predictions for post ids not in the gold are false
  positives.
- Micro averages: P = correct / predicted, R = correct / gold, F1 = 2PR / (P + R); 0 where a denominator is 0.
- Per type: gold mentions count under their type; GMNER/MNER predictions under their predicted type; EEG
  predictions (type-agnostic) under the type of the gold mention on their span, or their own type where their
  span has no gold mention. Per-type counts sum to the overall counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Sequence

from groundex.agent import AnnotatedPost, GoldTriple, Prediction, Triple

TASKS = ("gmner", "mner", "eeg")


@dataclass(frozen=True)
class ScoringProtocol:
    """How regions are compared. The default is the groundex protocol: box IoU >= 0.5."""

    iou_threshold: float = 0.5
    strict_iou: bool = False
    region: Literal["box", "mask"] = "box"

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold <= 1.0:
            raise ValueError(f"IoU threshold must be in (0, 1], got {self.iou_threshold}")
        if self.region not in ("box", "mask"):
            raise ValueError(f"region must be 'box' or 'mask', got {self.region!r}")

    def iou_passes(self, iou: float) -> bool:
        return iou > self.iou_threshold if self.strict_iou else iou >= self.iou_threshold

    def region_correct(self, predicted: Triple, gold: GoldTriple) -> bool:
        if not gold.groundable:
            return predicted.box is None and predicted.mask is None
        if self.region == "mask" and predicted.mask is not None and gold.masks:
            return any(
                self.iou_passes(predicted.mask.iou(mask)) for mask in gold.masks if mask.size == predicted.mask.size
            )
        if predicted.box is None:
            return False
        return any(self.iou_passes(predicted.box.iou(box)) for box in gold.boxes)

    def describe(self) -> str:
        comparison = ">" if self.strict_iou else ">="
        measure = "mask IoU where both sides have masks, else box IoU" if self.region == "mask" else "box IoU"
        return f"exact span (char offsets), exact type, region: {measure} {comparison} {self.iou_threshold:g}"


@dataclass(frozen=True)
class Counts:
    """Correct, predicted and gold counts, with the micro scores they give (fractions in [0, 1])."""

    correct: int
    predicted: int
    gold: int

    def __add__(self, other: "Counts") -> "Counts":
        """Counts of two disjoint sets of posts together (micro averaging adds counts, never scores)."""
        return Counts(self.correct + other.correct, self.predicted + other.predicted, self.gold + other.gold)

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_json(self) -> dict[str, Any]:
        """Scores in percent (0-100), as papers report them, plus the raw counts."""
        return {
            "precision": 100 * self.precision,
            "recall": 100 * self.recall,
            "f1": 100 * self.f1,
            "correct": self.correct,
            "predicted": self.predicted,
            "gold": self.gold,
        }


@dataclass(frozen=True)
class TaskScores:
    """One task's overall counts and its per-type counts (type name -> counts, most frequent gold type first)."""

    overall: Counts
    per_type: dict[str, Counts] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {**self.overall.to_json(), "per_type": {name: c.to_json() for name, c in self.per_type.items()}}


@dataclass(frozen=True)
class PostCoverage:
    """How the prediction file lines up with the gold posts."""

    gold_posts: int
    predicted_posts: int
    missing_posts: int
    unknown_post_ids: tuple[str, ...]


@dataclass(frozen=True)
class ScoreReport:
    """The result of scoring: the three tasks, the protocol used and the coverage of the prediction file."""

    protocol: ScoringProtocol
    coverage: PostCoverage
    gmner: TaskScores
    mner: TaskScores
    eeg: TaskScores

    def task(self, name: str) -> TaskScores:
        return {"gmner": self.gmner, "mner": self.mner, "eeg": self.eeg}[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": {
                "description": self.protocol.describe(),
                "iou_threshold": self.protocol.iou_threshold,
                "strict_iou": self.protocol.strict_iou,
                "region": self.protocol.region,
            },
            "posts": {
                "gold": self.coverage.gold_posts,
                "predicted": self.coverage.predicted_posts,
                "missing": self.coverage.missing_posts,
                "unknown": list(self.coverage.unknown_post_ids),
            },
            **{name: self.task(name).to_json() for name in TASKS},
        }


SpanKey = tuple[str, int, int]


@dataclass
class _Tally:
    correct: Counter = field(default_factory=Counter)
    predicted: Counter = field(default_factory=Counter)
    gold: Counter = field(default_factory=Counter)

    def scores(self) -> TaskScores:
        types = sorted(set(self.gold) | set(self.predicted), key=lambda t: (-self.gold[t], t))
        per_type = {t: Counts(self.correct[t], self.predicted[t], self.gold[t]) for t in types}
        overall = Counts(sum(self.correct.values()), sum(self.predicted.values()), sum(self.gold.values()))
        return TaskScores(overall, per_type)


def _task_checks(protocol: ScoringProtocol) -> dict[str, Callable[[Triple, GoldTriple], bool]]:
    def same_type(p: Triple, g: GoldTriple) -> bool:
        return p.entity.type == g.entity.type

    return {
        "gmner": lambda p, g: same_type(p, g) and protocol.region_correct(p, g),
        "mner": same_type,
        "eeg": protocol.region_correct,
    }


def score(
    gold_posts: Sequence[AnnotatedPost], predictions: Sequence[Prediction], protocol: ScoringProtocol = ScoringProtocol()
) -> ScoreReport:
    """Score predictions against gold posts. Posts without a prediction simply have all their mentions missed."""
    gold_by_span: dict[SpanKey, GoldTriple] = {}
    tallies = {task: _Tally() for task in TASKS}
    for annotated in gold_posts:
        for gold in annotated.gold:
            gold_by_span[(annotated.post.id, gold.entity.start, gold.entity.end)] = gold
            for tally in tallies.values():
                tally.gold[gold.entity.type] += 1

    predicted_by_span: dict[SpanKey, list[Triple]] = defaultdict(list)
    for prediction in predictions:
        for triple in prediction.triples:
            predicted_by_span[(prediction.post_id, triple.entity.start, triple.entity.end)].append(triple)

    checks = _task_checks(protocol)
    for key, triples in predicted_by_span.items():
        gold = gold_by_span.get(key)
        for task, accepts in checks.items():
            tally = tallies[task]
            for triple in triples:
                bucket = gold.entity.type if (task == "eeg" and gold is not None) else triple.entity.type
                tally.predicted[bucket] += 1
            if gold is not None and any(accepts(triple, gold) for triple in triples):
                tally.correct[gold.entity.type] += 1

    gold_ids = {annotated.post.id for annotated in gold_posts}
    predicted_ids = [prediction.post_id for prediction in predictions]
    coverage = PostCoverage(
        gold_posts=len(gold_ids),
        predicted_posts=len(set(predicted_ids) & gold_ids),
        missing_posts=len(gold_ids - set(predicted_ids)),
        unknown_post_ids=tuple(sorted(set(predicted_ids) - gold_ids)),
    )
    return ScoreReport(protocol, coverage, *(tallies[task].scores() for task in TASKS))
