"""The groundable / not-groundable decision, scored against the gold: a gold mention is groundable iff it has
at least one box. Scored over the predicted entities whose span and type are right (the MNER-correct ones), so
the figure isolates the visibility decision from entity extraction; "groundable" is the positive class.
Predictions that carry no decision (``Triple.visible is None``) are counted as ``undecided`` and left out.

``RULES`` are the simple baselines a learnt decision must beat, scored by the same code on the same entities
(each replaces the system's decision on its own MNER-correct entities): "always groundable" and "person types
groundable, the rest not" (PER, person and the FMNERG person group's fine types).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from groundex.agent import AnnotatedPost, Prediction, Triple


@dataclass(frozen=True)
class GroundabilityScores:
    """Confusion counts of the decision on MNER-correct entities; rates as fractions in [0, 1]."""

    true_positive: int   # judged visible, gold groundable
    false_positive: int  # judged visible, gold not groundable
    false_negative: int  # judged not visible, gold groundable
    true_negative: int
    undecided: int       # MNER-correct predictions without a decision

    @property
    def decided(self) -> int:
        return self.true_positive + self.false_positive + self.false_negative + self.true_negative

    @property
    def accuracy(self) -> float:
        return (self.true_positive + self.true_negative) / self.decided if self.decided else 0.0

    @property
    def precision(self) -> float:
        judged = self.true_positive + self.false_positive
        return self.true_positive / judged if judged else 0.0

    @property
    def recall(self) -> float:
        groundable = self.true_positive + self.false_negative
        return self.true_positive / groundable if groundable else 0.0

    @property
    def gold_groundable_share(self) -> float:
        """The share of groundable mentions among the decided ones: the accuracy of always answering "yes"."""
        return (self.true_positive + self.false_negative) / self.decided if self.decided else 0.0

    def to_json(self) -> dict[str, Any]:
        """Rates in percent (0-100), plus the counts."""
        return {"accuracy": 100 * self.accuracy, "precision": 100 * self.precision, "recall": 100 * self.recall,
                "always_groundable_accuracy": 100 * self.gold_groundable_share,
                "true_positive": self.true_positive, "false_positive": self.false_positive,
                "false_negative": self.false_negative, "true_negative": self.true_negative,
                "undecided": self.undecided}


def _is_person(triple: Triple) -> bool:
    from groundex.agent import person_type_names

    return triple.entity.type in person_type_names()


RULES: dict[str, Callable[[Triple], bool]] = {
    "always groundable": lambda triple: True,
    "person types groundable, the rest not": _is_person,
}


def score_groundability(gold_posts: Sequence[AnnotatedPost], predictions: Sequence[Prediction],
                        decide: Callable[[Triple], bool] | None = None) -> GroundabilityScores:
    """``decide``: a rule that replaces each prediction's own decision (``Triple.visible``)."""
    gold = {(a.post.id, g.entity.start, g.entity.end, g.entity.type): bool(g.boxes) for a in gold_posts for g in a.gold}
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0, "undecided": 0}
    for prediction in predictions:
        for triple in prediction.triples:
            key = (prediction.post_id, triple.entity.start, triple.entity.end, triple.entity.type)
            if key not in gold:
                continue
            visible = triple.visible if decide is None else decide(triple)
            if visible is None:
                counts["undecided"] += 1
                continue
            groundable = gold.pop(key)  # one decision per gold mention
            counts[("t" if visible == groundable else "f") + ("p" if visible else "n")] += 1
    return GroundabilityScores(counts["tp"], counts["fp"], counts["fn"], counts["tn"], counts["undecided"])
