"""The scoring protocol on hand-computed cases."""

from __future__ import annotations

import pytest

from groundex.agent.schema import AnnotatedPost, Box, Entity, GoldTriple, Mask, Post, Prediction, Triple
from groundex.eval.metrics import ScoringProtocol, score

import numpy as np

TEXT = "Messi met Ronaldo in Madrid"
MESSI = Entity("Messi", 0, 5, "PER")
RONALDO = Entity("Ronaldo", 10, 17, "PER")
MADRID = Entity("Madrid", 21, 27, "LOC")
GOLD_BOX = Box(0, 0, 10, 10)


def one_post(*gold: GoldTriple) -> list[AnnotatedPost]:
    return [AnnotatedPost(Post("p1", TEXT), tuple(gold))]


def predict(*triples: Triple, post_id: str = "p1") -> list[Prediction]:
    return [Prediction(post_id, tuple(triples))]


def counts(report, task: str) -> tuple[int, int, int]:
    c = report.task(task).overall
    return (c.correct, c.predicted, c.gold)


def test_ungroundable_gold_is_matched_by_a_prediction_without_region():
    report = score(one_post(GoldTriple(MADRID)), predict(Triple(MADRID)))
    assert counts(report, "gmner") == (1, 1, 1)
    assert counts(report, "eeg") == (1, 1, 1)


def test_ungroundable_gold_with_a_predicted_box_is_wrong_for_gmner_and_eeg_only():
    report = score(one_post(GoldTriple(MADRID)), predict(Triple(MADRID, box=Box(1, 1, 5, 5))))
    assert counts(report, "gmner") == (0, 1, 1)
    assert counts(report, "eeg") == (0, 1, 1)
    assert counts(report, "mner") == (1, 1, 1)


def test_groundable_gold_with_no_predicted_box_is_wrong():
    report = score(one_post(GoldTriple(MESSI, (GOLD_BOX,))), predict(Triple(MESSI)))
    assert counts(report, "gmner") == (0, 1, 1)
    assert counts(report, "mner") == (1, 1, 1)


def test_multi_box_gold_accepts_a_box_matching_any_of_them():
    gold = GoldTriple(MESSI, (Box(0, 0, 10, 10), Box(100, 100, 200, 200)))
    report = score(one_post(gold), predict(Triple(MESSI, box=Box(101, 101, 199, 199))))
    assert counts(report, "gmner") == (1, 1, 1)


def test_multi_box_gold_counts_once_in_recall():
    gold = GoldTriple(MESSI, (Box(0, 0, 10, 10), Box(100, 100, 200, 200)))
    report = score(one_post(gold), predict())
    assert counts(report, "gmner") == (0, 0, 1)


def test_iou_exactly_half_passes_by_default_and_fails_when_strict():
    half = Box(0, 0, 10, 20)  # intersection 100, union 200
    assert GOLD_BOX.iou(half) == 0.5
    gold, prediction = one_post(GoldTriple(MESSI, (GOLD_BOX,))), predict(Triple(MESSI, box=half))
    assert counts(score(gold, prediction), "gmner") == (1, 1, 1)
    assert counts(score(gold, prediction, ScoringProtocol(strict_iou=True)), "gmner") == (0, 1, 1)


def test_iou_threshold_is_configurable():
    gold, prediction = one_post(GoldTriple(MESSI, (GOLD_BOX,))), predict(Triple(MESSI, box=Box(0, 0, 10, 20)))
    assert counts(score(gold, prediction, ScoringProtocol(iou_threshold=0.6)), "gmner") == (0, 1, 1)


def test_duplicate_predictions_match_once_and_the_rest_are_false_positives():
    triple = Triple(MESSI, box=GOLD_BOX)
    report = score(one_post(GoldTriple(MESSI, (GOLD_BOX,))), predict(triple, triple, triple))
    assert counts(report, "gmner") == (1, 3, 1)
    assert report.gmner.overall.precision == pytest.approx(1 / 3)
    assert report.gmner.overall.recall == 1.0


def test_matching_does_not_depend_on_prediction_order():
    gold = one_post(GoldTriple(MESSI, (GOLD_BOX,)))
    wrong, right = Triple(MESSI, box=Box(50, 50, 60, 60)), Triple(MESSI, box=GOLD_BOX)
    assert counts(score(gold, predict(wrong, right)), "gmner") == (1, 2, 1)
    assert counts(score(gold, predict(right, wrong)), "gmner") == (1, 2, 1)


def test_wrong_type_with_right_box_counts_for_eeg_only():
    report = score(one_post(GoldTriple(MESSI, (GOLD_BOX,))), predict(Triple(Entity("Messi", 0, 5, "ORG"), box=GOLD_BOX)))
    assert counts(report, "gmner") == (0, 1, 1)
    assert counts(report, "mner") == (0, 1, 1)
    assert counts(report, "eeg") == (1, 1, 1)


def test_span_must_match_exactly():
    partial = Entity("Mess", 0, 4, "PER")
    report = score(one_post(GoldTriple(MESSI, (GOLD_BOX,))), predict(Triple(partial, box=GOLD_BOX)))
    assert counts(report, "mner") == (0, 1, 1)
    assert counts(report, "eeg") == (0, 1, 1)


def test_unknown_post_ids_are_false_positives_and_reported():
    gold = one_post(GoldTriple(MESSI, (GOLD_BOX,)))
    predictions = predict(Triple(MESSI, box=GOLD_BOX)) + predict(Triple(MESSI, box=GOLD_BOX), post_id="ghost")
    report = score(gold, predictions)
    assert counts(report, "gmner") == (1, 2, 1)
    assert report.coverage.unknown_post_ids == ("ghost",)
    assert report.coverage.missing_posts == 0


def test_posts_without_prediction_are_missed_and_counted():
    gold = one_post(GoldTriple(MESSI, (GOLD_BOX,))) + [AnnotatedPost(Post("p2", "Hi Bob"), (GoldTriple(Entity("Bob", 3, 6, "PER")),))]
    report = score(gold, predict(Triple(MESSI, box=GOLD_BOX)))
    assert counts(report, "gmner") == (1, 1, 2)
    assert report.coverage.missing_posts == 1


def test_empty_inputs_give_zero_not_an_error():
    report = score([], [])
    assert report.gmner.overall.f1 == 0.0 and report.mner.overall.precision == 0.0


def test_per_type_counts_sum_to_overall_and_follow_the_documented_buckets():
    gold = one_post(GoldTriple(MESSI, (GOLD_BOX,)), GoldTriple(RONALDO), GoldTriple(MADRID))
    predictions = predict(
        Triple(MESSI, box=GOLD_BOX),                      # right
        Triple(Entity("Ronaldo", 10, 17, "ORG")),         # wrong type, right region
        Triple(Entity("met", 6, 9, "OTHER")),             # spurious
    )
    report = score(gold, predictions)
    gmner, eeg = report.gmner.per_type, report.eeg.per_type
    assert (gmner["PER"].correct, gmner["PER"].predicted, gmner["PER"].gold) == (1, 1, 2)
    assert (gmner["ORG"].correct, gmner["ORG"].predicted, gmner["ORG"].gold) == (0, 1, 0)
    assert (gmner["LOC"].correct, gmner["LOC"].predicted, gmner["LOC"].gold) == (0, 0, 1)
    # EEG ignores type: the ORG prediction on Ronaldo's span counts under the gold type PER.
    assert (eeg["PER"].correct, eeg["PER"].predicted, eeg["PER"].gold) == (2, 2, 2)
    assert (eeg["OTHER"].correct, eeg["OTHER"].predicted) == (0, 1)
    for task in ("gmner", "mner", "eeg"):
        scores = report.task(task)
        assert sum(c.correct for c in scores.per_type.values()) == scores.overall.correct
        assert sum(c.predicted for c in scores.per_type.values()) == scores.overall.predicted
        assert sum(c.gold for c in scores.per_type.values()) == scores.overall.gold


def test_f1_is_the_harmonic_mean():
    gold = one_post(GoldTriple(MESSI, (GOLD_BOX,)), GoldTriple(RONALDO), GoldTriple(MADRID))
    report = score(gold, predict(Triple(MESSI, box=GOLD_BOX), Triple(Entity("met", 6, 9, "OTHER"))))
    overall = report.gmner.overall
    assert (overall.precision, overall.recall) == (0.5, pytest.approx(1 / 3))
    assert overall.f1 == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))


def _mask(x1: int, y1: int, x2: int, y2: int) -> Mask:
    array = np.zeros((20, 20), dtype=bool)
    array[y1:y2, x1:x2] = True
    return Mask.from_array(array)


def test_mask_protocol_uses_mask_iou_when_both_sides_have_masks():
    gold = one_post(GoldTriple(MESSI, (Box(0, 0, 10, 10),), (_mask(0, 0, 10, 10),)))
    # Box is right, mask is wrong: the box protocol accepts, the mask protocol rejects.
    prediction = predict(Triple(MESSI, box=Box(0, 0, 10, 10), mask=_mask(10, 10, 20, 20)))
    assert counts(score(gold, prediction), "gmner") == (1, 1, 1)
    assert counts(score(gold, prediction, ScoringProtocol(region="mask")), "gmner") == (0, 1, 1)
    right_mask = predict(Triple(MESSI, box=Box(10, 10, 20, 20), mask=_mask(0, 0, 10, 10)))
    assert counts(score(gold, right_mask, ScoringProtocol(region="mask")), "gmner") == (1, 1, 1)


def test_mask_protocol_falls_back_to_box_iou_without_masks():
    gold = one_post(GoldTriple(MESSI, (Box(0, 0, 10, 10),)))
    prediction = predict(Triple(MESSI, box=Box(0, 0, 10, 10), mask=_mask(10, 10, 20, 20)))
    assert counts(score(gold, prediction, ScoringProtocol(region="mask")), "gmner") == (1, 1, 1)


def test_protocol_rejects_a_threshold_outside_zero_one():
    with pytest.raises(ValueError):
        ScoringProtocol(iou_threshold=0.0)
    with pytest.raises(ValueError):
        ScoringProtocol(iou_threshold=1.5)


def test_the_groundable_decision_is_scored_on_mner_correct_entities_only():
    from groundex.agent.schema import AnnotatedPost, Box, Entity, GoldTriple, Post, Prediction, Triple
    from groundex.eval.groundability import score_groundability

    text = "Alice and Bob visit Paris today"
    alice, bob, paris = Entity("Alice", 0, 5, "PER"), Entity("Bob", 10, 13, "PER"), Entity("Paris", 20, 25, "LOC")
    gold = [AnnotatedPost(Post("p", text), (GoldTriple(alice, (Box(0, 0, 5, 5),)), GoldTriple(bob, ()),
                                            GoldTriple(paris, ())))]
    predicted = [Prediction("p", (Triple(alice, visible=True), Triple(bob, visible=True),
                                  Triple(Entity("Paris", 20, 25, "ORG"), visible=True),  # wrong type: not scored
                                  Triple(Entity("today", 26, 31, "OTHER"), visible=False)))]  # not gold: not scored
    scores = score_groundability(gold, predicted)
    assert (scores.true_positive, scores.false_positive, scores.false_negative, scores.true_negative) == (1, 1, 0, 0)
    assert (scores.accuracy, scores.precision, scores.recall) == (0.5, 0.5, 1.0)
    undecided = score_groundability(gold, [Prediction("p", (Triple(alice),))])
    assert (undecided.decided, undecided.undecided) == (0, 1)
