"""Zero-shot restriction, the FMNERG coarse roll-up, the error breakdown and the SMNER mask reader."""

from __future__ import annotations

import json

import numpy as np
import pytest

from groundex.agent.schema import AnnotatedPost, Box, Entity, GoldTriple, Mask, Post, Prediction, Triple
from groundex.agent.type_presets import load_preset
from groundex.eval.analysis import error_breakdown
from groundex.eval.datasets import load_split
from groundex.eval.datasets.errors import DatasetFormatError
from groundex.eval.datasets.smner import read_mask_file
from groundex.eval.metrics import score
from groundex.eval.report import evaluate
from groundex.eval.views import restrict_types, roll_up

TEXT = "Durant met Obama in Austin"
DURANT, OBAMA, AUSTIN = Entity("Durant", 0, 6, "athlete"), Entity("Obama", 11, 16, "politician"), Entity("Austin", 20, 26, "city")
GOLD = [AnnotatedPost(Post("p", TEXT), (GoldTriple(DURANT, (Box(0, 0, 10, 10),)), GoldTriple(OBAMA), GoldTriple(AUSTIN)))]


def test_zero_shot_restriction_scores_only_the_asked_types():
    predictions = [Prediction("p", (Triple(DURANT, Box(0, 0, 10, 10)), Triple(Entity("Obama", 11, 16, "athlete"))))]
    gold, kept = restrict_types(GOLD, predictions, {"athlete"})
    report = score(gold, kept)
    # Obama predicted as athlete is a false positive of the athlete type; politician/city gold are out of scope
    assert (report.mner.overall.correct, report.mner.overall.predicted, report.mner.overall.gold) == (1, 2, 1)


def test_coarse_roll_up_credits_the_right_group_with_the_wrong_fine_type():
    predictions = [Prediction("p", (Triple(Entity("Durant", 0, 6, "coach"), Box(0, 0, 10, 10)), Triple(OBAMA)))]
    fine = load_preset("fmnerg")
    evaluation = evaluate(GOLD, predictions, fine, {"p"})
    assert evaluation.text.mner.overall.correct == 1          # fine: coach != athlete
    assert evaluation.coarse_text.mner.overall.correct == 2   # coarse: both person
    assert evaluation.coarse_grounded.gmner.overall.correct == 2
    group_of = {t.name: t.group for t in fine}
    rolled_gold, _ = roll_up(GOLD, predictions, group_of)
    assert [g.entity.type for g in rolled_gold[0].gold] == ["person", "person", "location"]


def test_error_breakdown_names_each_kind_of_mistake():
    gold = [AnnotatedPost(Post("p", "A B C D E F"), (
        GoldTriple(Entity("A", 0, 1, "PER"), (Box(0, 0, 10, 10),)),   # missed grounding
        GoldTriple(Entity("B", 2, 3, "PER"), (Box(0, 0, 10, 10),)),   # wrong box
        GoldTriple(Entity("C", 4, 5, "LOC")),                         # box on ungroundable
        GoldTriple(Entity("D", 6, 7, "ORG")),                         # wrong type
        GoldTriple(Entity("E", 8, 9, "PER")),                         # span missed
    ))]
    predictions = [Prediction("p", (Triple(Entity("A", 0, 1, "PER")), Triple(Entity("B", 2, 3, "PER"), Box(50, 50, 60, 60)),
                                    Triple(Entity("C", 4, 5, "LOC"), Box(0, 0, 5, 5)), Triple(Entity("D", 6, 7, "PER")),
                                    Triple(Entity("F", 10, 11, "OTHER"))))]
    breakdown = error_breakdown(gold, predictions)
    assert breakdown.counts == {"span missed": 1, "wrong type": 1, "missed grounding": 1, "wrong box": 1,
                                "box on ungroundable": 1, "spurious span": 1}
    assert breakdown.worst_posts(3) == ["p"]
    text_only = error_breakdown(gold, predictions, grounded_posts=set())
    assert text_only.counts["wrong box"] == 0 and text_only.counts["wrong type"] == 1


def test_mask_files_in_rle_and_polygons(tmp_path):
    array = np.zeros((40, 60), dtype=bool)
    array[5:15, 10:30] = True
    rle = Mask.from_array(array)
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"height": 40, "width": 60, "objects": [
        {"name": "Messi", "segmentation": {"size": [40, 60], "counts": rle.counts}},
        {"name": "Camp Nou", "segmentation": [[0, 20, 59, 20, 59, 39, 0, 39]]}]}))
    masks = read_mask_file(path)
    assert masks["Messi"][0] == rle and masks["Messi"][0].area == 200
    assert 1100 <= masks["Camp Nou"][0].area <= 1260  # the polygon covers about 60 x 20 pixels
    path.write_text(json.dumps({"height": 40, "width": 60, "objects": [{"name": "X", "segmentation": [[1, 2, 3]]}]}))
    with pytest.raises(DatasetFormatError, match=r"objects\[0\]"):
        read_mask_file(path)


def test_smner_dataset_attaches_masks_by_entity_name(mini_gmner, tmp_path):
    import shutil

    folder = tmp_path / "twitter-smner"
    shutil.copytree(mini_gmner, folder)
    (folder / "masks").mkdir()
    array = np.zeros((480, 640), dtype=bool)
    array[50:470, 100:300] = True
    (folder / "masks" / "ex1.json").write_text(json.dumps({"height": 480, "width": 640, "objects": [
        {"name": "Messi", "segmentation": {"size": [480, 640], "counts": Mask.from_array(array).counts}}]}))
    posts = {a.post.id: a for a in load_split("twitter-smner", folder, "dev")}
    messi, barcelona, _ = posts["ex1"].gold
    assert messi.masks[0].area == 420 * 200 and messi.boxes and barcelona.masks == ()
    with pytest.raises(DatasetFormatError, match="mask folder"):
        load_split("twitter-smner", mini_gmner, "dev")


def test_the_groundable_rules_are_scored_on_the_systems_own_correct_entities():
    from groundex.eval.groundability import RULES, score_groundability

    box = Box(0, 0, 10, 10)
    gold = [AnnotatedPost(Post("p", "Ann Bob Rome Nike"), (
        GoldTriple(Entity("Ann", 0, 3, "PER"), (box,)), GoldTriple(Entity("Bob", 4, 7, "PER")),
        GoldTriple(Entity("Rome", 8, 12, "LOC")), GoldTriple(Entity("Nike", 13, 17, "OTHER"), (box,))))]
    predicted = [Prediction("p", (Triple(Entity("Ann", 0, 3, "PER"), None, visible=False),
                                  Triple(Entity("Bob", 4, 7, "PER"), None, visible=False),
                                  Triple(Entity("Rome", 8, 12, "ORG"), None, visible=True),  # wrong type: not scored
                                  Triple(Entity("Nike", 13, 17, "OTHER"), None, visible=True)))]
    system = score_groundability(gold, predicted)
    person = score_groundability(gold, predicted, RULES["person types groundable, the rest not"])
    always = score_groundability(gold, predicted, RULES["always groundable"])
    assert (system.true_positive, system.false_negative, system.true_negative) == (1, 1, 1)
    assert (person.true_positive, person.false_positive, person.false_negative) == (1, 1, 1)
    assert always.accuracy == always.gold_groundable_share == 2 / 3
