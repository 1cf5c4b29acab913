"""``groundex score`` as a user runs it: a real subprocess, its output and its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def groundex(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groundex.agent.cli", *args], capture_output=True, text=True, timeout=120)


def test_score_of_the_shipped_example_matches_the_hand_check(mini_gmner):
    result = groundex("score", "--data", str(mini_gmner), "--pred", str(mini_gmner / "predictions.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [report[t]["correct"] for t in ("gmner", "mner", "eeg")] == [4, 6, 5]
    assert [report[t]["f1"] for t in ("gmner", "mner", "eeg")] == [50.0, 75.0, 62.5]
    assert report["mner"]["per_type"]["PER"] == pytest.approx(
        {"precision": 100.0, "recall": 200 / 3, "f1": 80.0, "correct": 2, "predicted": 2, "gold": 3})
    assert report["protocol"]["iou_threshold"] == 0.5 and report["posts"]["missing"] == 0


def test_score_prints_tables(mini_gmner):
    result = groundex("score", "--data", str(mini_gmner), "--pred", str(mini_gmner / "predictions.jsonl"))
    assert result.returncode == 0
    assert "GMNER" in result.stdout and "50.00" in result.stdout and "62.50" in result.stdout
    assert "Per type" in result.stdout and "protocol: exact span" in result.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["--pred", "missing.jsonl"], "prediction file missing.jsonl does not exist"),
        (["--split", "test", "--pred", "x"], "no test.txt"),
        (["--iou", "0", "--pred", "x"], "--iou must be in (0, 1]"),
        (["--dataset", "ontonotes", "--pred", "x"], "unknown dataset"),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(mini_gmner, args, message):
    result = groundex("score", "--data", str(mini_gmner), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_malformed_prediction_file_names_the_line(mini_gmner, tmp_path):
    bad = tmp_path / "bad.jsonl"
    lines = (mini_gmner / "predictions.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"start": 4', '"start": 5')
    bad.write_text("\n".join(lines) + "\n")
    result = groundex("score", "--data", str(mini_gmner), "--pred", str(bad))
    assert result.returncode == 2 and "bad.jsonl:3:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_dev_gold_dumped_as_predictions_scores_100(shared_data, tmp_path):
    gold = tmp_path / "gold.jsonl"
    assert groundex("dump-gold", "--data", str(shared_data), "--split", "dev", "--out", str(gold)).returncode == 0
    result = groundex("score", "--data", str(shared_data), "--split", "dev", "--pred", str(gold))
    assert result.returncode == 0
    rows = [line for line in result.stdout.splitlines() if line.startswith(("│ GMNER", "│ MNER", "│ EEG"))]
    assert len(rows) == 3 and all(row.count("100.00") == 3 for row in rows)


def test_damaged_dev_predictions_lose_exactly_what_was_damaged(shared_data, tmp_path):
    """Drop every 10th post, retype every 7th mention, shift the box of every 5th groundable mention."""
    gold = tmp_path / "gold.jsonl"
    groundex("dump-gold", "--data", str(shared_data), "--split", "dev", "--out", str(gold))
    records = [json.loads(line) for line in gold.read_text().splitlines()]
    kept, retyped, shifted = [], 0, 0
    mention = groundable = 0
    for index, record in enumerate(records):
        if index % 10 == 0:
            continue
        for triple in record["triples"]:
            mention += 1
            if mention % 7 == 0:
                triple["type"] = "OTHER" if triple["type"] != "OTHER" else "PER"
                retyped += 1
            if triple["box"] is not None:
                groundable += 1
                if groundable % 5 == 0:
                    x1, y1, x2, y2 = triple["box"]
                    triple["box"] = [x1 + 10000, y1, x2 + 10000, y2]  # far off the image: IoU 0 with every gold box
                    shifted += 1
        kept.append(record)
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("".join(json.dumps(r) + "\n" for r in kept))
    report = json.loads(groundex("score", "--data", str(shared_data), "--split", "dev", "--pred", str(damaged), "--json").stdout)
    predicted = sum(len(r["triples"]) for r in kept)
    assert report["mner"]["predicted"] == predicted and report["mner"]["gold"] == 2450
    assert report["mner"]["correct"] == predicted - retyped
    assert report["eeg"]["correct"] == predicted - shifted
    both = 0
    mention = groundable = 0
    for record in kept:  # the mentions damaged twice are counted once in GMNER's loss
        for triple in record["triples"]:
            mention += 1
            box_damaged = False
            if triple["box"] is not None:
                groundable += 1
                box_damaged = groundable % 5 == 0
            both += (mention % 7 == 0) and box_damaged
    assert report["gmner"]["correct"] == predicted - retyped - shifted + both
    assert report["posts"]["missing"] == 150
