"""The readers on the real Twitter-GMNER v2.0 / FMNERG files: counts from the dataset cards."""

from __future__ import annotations

from collections import Counter

import pytest

from groundex.eval.datasets import load_split
from groundex.eval.metrics import score
from groundex.agent.schema import Prediction, Triple


@pytest.mark.parametrize(
    "split,posts,mentions,groundable,types",
    [
        ("train", 7000, 11779, 4733, {"PER": 5019, "ORG": 3035, "LOC": 1918, "OTHER": 1807}),
        ("dev", 1500, 2450, 991, {"PER": 1072, "ORG": 595, "LOC": 407, "OTHER": 376}),
    ],
)
def test_gmner_counts(shared_data, split, posts, mentions, groundable, types):
    data = load_split("twitter-gmner", shared_data, split)
    gold = [g for a in data for g in a.gold]
    assert (len(data), len(gold), sum(g.groundable for g in gold)) == (posts, mentions, groundable)
    assert Counter(g.entity.type for g in gold) == types
    assert all(a.post.text[g.entity.start:g.entity.end] == g.entity.text for a in data for g in a.gold)
    assert sum(1 for a in data if not a.gold) == {"train": 358, "dev": 87}[split]


def test_fmnerg_dev_has_the_gmner_spans_and_51_fine_types(shared_data):
    fine = load_split("twitter-fmnerg", shared_data, "dev")
    coarse = load_split("twitter-gmner", shared_data, "dev")
    spans = lambda data: [(a.post.id, g.entity.span) for a in data for g in a.gold]  # noqa: E731
    assert spans(fine) == spans(coarse)
    types = Counter(g.entity.type for a in fine for g in a.gold)
    assert len(types) == 51 and types["athlete"] == 272 and types["art_other"] == 3
    # FMNERG reuses GMNER's boxes
    assert sum(g.groundable for a in fine for g in a.gold) == 991


def test_dev_gold_scored_against_itself_is_perfect(shared_data):
    data = load_split("twitter-gmner", shared_data, "dev")
    predictions = [Prediction(a.post.id, tuple(Triple(g.entity, g.boxes[0] if g.boxes else None) for g in a.gold))
                   for a in data]
    report = score(data, predictions)
    for task in ("gmner", "mner", "eeg"):
        overall = report.task(task).overall
        assert (overall.precision, overall.recall, overall.f1) == (1.0, 1.0, 1.0)
        assert overall.gold == 2450
