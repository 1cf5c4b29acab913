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


def test_fmnerg_train_matches_gmner_train_and_its_source_card(shared_data):
    """Counts from ../shared/data/twitter-fmnerg/SOURCE.md: the same 7,000 posts, ids, order and spans as GMNER
    train, 11,779 mentions in 8 coarse groups and all 51 fine types."""
    from groundex.eval.datasets.twitter import read_twitter_fmnerg

    fine = load_split("twitter-fmnerg", shared_data, "train")
    gmner = load_split("twitter-gmner", shared_data, "train")
    spans = lambda data: [(a.post.id, a.post.text, g.entity.span) for a in data for g in a.gold]  # noqa: E731
    assert [a.post.id for a in fine] == [a.post.id for a in gmner] and spans(fine) == spans(gmner)
    types = Counter(g.entity.type for a in fine for g in a.gold)
    assert len(types) == 51 and sum(types.values()) == 11779
    assert (types["athlete"], types["sports_team"], types["musician"], types["city"], types["continent"]) == \
        (1228, 1151, 912, 613, 22)
    path = shared_data / "twitter-fmnerg" / "train.txt"
    coarse = Counter(g.entity.type for a in read_twitter_fmnerg(path, shared_data / "twitter-gmner-v2" / "xml",
                                                                 level="coarse") for g in a.gold)
    assert coarse == {"person": 5019, "organization": 3035, "location": 1553, "event": 614, "art": 495,
                      "building": 365, "product": 355, "other": 343}
    # every fine type lies under its GMNER type (FMNERG groups roll up to PER / ORG / LOC / OTHER)
    from groundex.agent.type_presets import load_preset
    from groundex.finetune.schema_sampling import FMNERG_GROUP_TO_GMNER

    group = {t.name: t.group for t in load_preset("fmnerg")}
    assert all(FMNERG_GROUP_TO_GMNER[group[f.entity.type]] == g.entity.type
               for a, b in zip(fine, gmner) for f, g in zip(a.gold, b.gold))


def test_the_zero_shot_types_are_frequent_and_rare_and_leave_most_fine_types_seen(shared_data):
    from groundex.agent.type_presets import ZERO_SHOT_TYPES

    types = Counter(g.entity.type for a in load_split("twitter-fmnerg", shared_data, "train") for g in a.gold)
    held = {t: types[t] for t in ZERO_SHOT_TYPES}
    assert max(held.values()) > 500 and min(held.values()) < 50 and len(types) - len(held) == 41
    assert sum(held.values()) == 2828
