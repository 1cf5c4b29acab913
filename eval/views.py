"""Other views of the same scoring protocol: a type restriction (zero-shot runs) and a coarse roll-up (FMNERG).

Both transform gold and predictions, then score with ``eval.metrics.score`` unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from groundex.agent import AnnotatedPost, Prediction


def restrict_types(gold_posts: Sequence[AnnotatedPost], predictions: Sequence[Prediction],
                   type_names: set[str]) -> tuple[list[AnnotatedPost], list[Prediction]]:
    """Keep only mentions and predictions of ``type_names`` (the zero-shot protocol: a run asked for these
    types is scored on these types; a prediction of another type is dropped, not counted as an error)."""
    gold = [replace(a, gold=tuple(g for g in a.gold if g.entity.type in type_names)) for a in gold_posts]
    kept = [replace(p, triples=tuple(t for t in p.triples if t.entity.type in type_names)) for p in predictions]
    return gold, kept


def roll_up(gold_posts: Sequence[AnnotatedPost], predictions: Sequence[Prediction],
            group_of: Mapping[str, str]) -> tuple[list[AnnotatedPost], list[Prediction]]:
    """Replace every type by its coarse group (FMNERG fine -> coarse). Scored this way, a prediction whose fine
    type is wrong but whose group is right counts as correct; the fine-type metrics do not allow that."""
    def coarse(entity):
        return replace(entity, type=group_of.get(entity.type, entity.type))

    gold = [replace(a, gold=tuple(replace(g, entity=coarse(g.entity)) for g in a.gold)) for a in gold_posts]
    rolled = [replace(p, triples=tuple(replace(t, entity=coarse(t.entity)) for t in p.triples)) for p in predictions]
    return gold, rolled
