"""Benchmark runs end to end on a synthetic dataset with a scripted (oracle) planner and shape tools."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from groundex.agent import Extractor, GroundexError, load_preset, load_settings
from groundex.eval.benchmark import BenchmarkSpec, LiveScore, run_benchmark
from groundex.eval.datasets import load_split
from groundex.eval.predictions import read_predictions
from groundex.eval.report import RunDescription, evaluate, metrics_document, write_report
from groundex.eval.runner import PredictionLog, repair_tail, run_posts
from tests.support.scripted import synthetic_oracle, synthetic_tools
from tests.support.synthetic import write_synthetic_gmner

GMNER = load_preset("gmner")
POSTS = 20


@pytest.fixture()
def synthetic(tmp_path):
    return write_synthetic_gmner(tmp_path / "bench", POSTS)


def run(posts, out, delay_s=0.0, concurrency=4):
    log = PredictionLog(out / "predictions.jsonl")
    try:
        return asyncio.run(run_posts(posts, Extractor(synthetic_tools(synthetic_oracle(posts, delay_s))), GMNER, log, concurrency))
    finally:
        log.close()


def test_a_benchmark_runs_as_one_library_call_and_resumes_in_its_folder(synthetic, tmp_path):
    data, images = synthetic
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    extractor = Extractor(synthetic_tools(synthetic_oracle(posts)))
    spec = BenchmarkSpec("twitter-gmner", "dev", data, tmp_path / "run", load_settings(environ={}), image_dir=images,
                         limit=8)
    live, seen = LiveScore({"PER", "LOC", "ORG", "OTHER"}), []
    first = run_benchmark(spec, extractor, on_done=lambda a, p, notes: seen.append(live.add(a, p)))
    assert (first.stats.ran, first.document["run"]["posts"]) == (8, 8)
    assert seen[-1] == pytest.approx(first.f1("mner"))  # the live figure is the scorer's, post by post
    assert first.document["run"]["unreadable_answers"] == {"posts_planned": 8, "unreadable": 0}
    assert first.f1("gmner") is not None and first.report.is_file()
    whole = run_benchmark(BenchmarkSpec("twitter-gmner", "dev", data, tmp_path / "run", spec.settings,
                                        image_dir=images), extractor)
    assert (whole.stats.ran, whole.stats.already_done, whole.document["run"]["posts"]) == (POSTS - 8, 8, POSTS)
    with pytest.raises(GroundexError, match="other settings \\(masks\\)"):
        run_benchmark(BenchmarkSpec("twitter-gmner", "dev", data, tmp_path / "run", spec.settings, masks=True), extractor)


def test_known_metrics_come_out_exactly(synthetic, tmp_path):
    data, images = synthetic
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    stats = run(posts, tmp_path / "run")
    assert (stats.ran, stats.already_done, stats.text_only) == (POSTS, 0, 0)
    predictions = read_predictions(tmp_path / "run" / "predictions.jsonl")
    evaluation = evaluate(posts, predictions, GMNER, {a.post.id for a in posts})
    document = metrics_document(evaluation, RunDescription("synthetic", "dev", "gmner"), 1.0, 0)
    # 3 gold mentions a post; 3 predictions + a spurious "met" on even posts. Alice's box is right, Bob's wrong,
    # Paris is correctly left without a box.
    assert (document["mner"]["correct"], document["mner"]["predicted"], document["mner"]["gold"]) == (60, 70, 60)
    assert (document["gmner"]["correct"], document["eeg"]["correct"]) == (40, 40)
    assert document["errors"] == {"span missed": 0, "wrong type": 0, "missed grounding": 0, "wrong box": 20,
                                  "box on ungroundable": 0, "spurious span": 10}
    write_report(tmp_path / "run", document, evaluation, posts, predictions)
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| GMNER | 57.14 | 66.67 | 61.54 | 40 | 70 | 60 |" in report
    assert (tmp_path / "run" / "per_type_f1.png").is_file() and (tmp_path / "run" / "errors.png").is_file()
    assert len(list((tmp_path / "run" / "overlays").glob("*.png"))) == 8
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["gmner"]["f1"] == pytest.approx(61.538, abs=1e-3)


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_predictions_without_duplicates(synthetic, tmp_path, repo_root):
    data, images = synthetic
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    run(posts, tmp_path / "clean")
    interrupted = tmp_path / "killed"
    interrupted.mkdir()
    worker = subprocess.Popen([sys.executable, "-m", "tests.support.eval_worker", str(data), str(images),
                               str(interrupted), "0.4"], cwd=repo_root)
    predictions = interrupted / "predictions.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if predictions.is_file() and predictions.read_text().count("\n") >= 5:
            break
        assert worker.poll() is None, "the worker ended before it was killed"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)
    done_before = predictions.read_text().count("\n")
    assert 5 <= done_before < POSTS
    stats = run(posts, interrupted)
    assert stats.already_done == done_before and stats.ran == POSTS - done_before
    resumed = read_predictions(interrupted / "predictions.jsonl")
    clean = read_predictions(tmp_path / "clean" / "predictions.jsonl")
    assert len({p.post_id for p in resumed}) == len(resumed) == POSTS
    assert sorted(resumed, key=lambda p: p.post_id) == sorted(clean, key=lambda p: p.post_id)


def test_a_drained_run_saves_the_posts_in_flight_starts_no_new_one_and_resumes(synthetic, tmp_path):
    data, images = synthetic
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    drain = asyncio.Event()

    def stop_after_five(annotated, prediction, notes):
        if len(log.done) == 5:
            drain.set()  # what the first Ctrl-C / SIGTERM does (agent.cli.stopping)

    log = PredictionLog(tmp_path / "predictions.jsonl")
    extractor = Extractor(synthetic_tools(synthetic_oracle(posts, 0.2)))
    try:
        stats = asyncio.run(run_posts(posts, extractor, GMNER, log, 4, on_done=stop_after_five, drain=drain))
    finally:
        log.close()
    # the three posts holding a slot when the fifth finished were finished and saved; none started after it
    assert stats.ran == len(read_predictions(tmp_path / "predictions.jsonl")) == 5 + 3
    resumed = run(posts, tmp_path)
    assert (resumed.already_done, resumed.ran) == (8, POSTS - 8)
    assert len({p.post_id for p in read_predictions(tmp_path / "predictions.jsonl")}) == POSTS


def test_a_half_written_last_line_is_cut_and_its_post_redone(synthetic, tmp_path):
    data, images = synthetic
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)[:4]
    run(posts[:2], tmp_path / "run")
    path = tmp_path / "run" / "predictions.jsonl"
    with path.open("a") as handle:
        handle.write('{"id": "s2", "triples": [{"text": "Ali')
    log = PredictionLog(path)
    assert log.repaired_bytes > 0 and log.done == {"s0", "s1"}
    log.close()
    assert repair_tail(path) == 0
    run(posts, tmp_path / "run")
    assert sorted(p.post_id for p in read_predictions(path)) == ["s0", "s1", "s2", "s3"]


def test_without_images_the_run_is_text_only_and_gmner_is_not_available(synthetic, tmp_path):
    data, _ = synthetic
    posts = load_split("twitter-gmner", data, "dev")
    stats = run(posts, tmp_path / "run")
    assert stats.text_only == POSTS
    predictions = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert all(t.box is None for p in predictions for t in p.triples)
    document = metrics_document(evaluate(posts, predictions, GMNER, set()), RunDescription("s", "dev", "gmner"), 1.0, 0)
    assert document["mner"]["f1"] == pytest.approx(100 * 2 * (60 / 70) / (60 / 70 + 1))
    assert document["gmner"] == {"available": False, "reason": document["gmner"]["reason"]}
    assert "only MNER is scored" in document["eeg"]["reason"]


@pytest.mark.slow
def test_the_eval_command_runs_text_only_with_a_real_model_then_compares(tiny_qwen2_vl, synthetic, tmp_path):
    from tests.integration.test_transformers_backend import tiny_config

    data, _ = synthetic
    config = tiny_config(tmp_path, tiny_qwen2_vl)

    def groundex(*args):
        return subprocess.run([sys.executable, "-m", "groundex.agent.cli", *args], capture_output=True, text=True, timeout=600)

    for name in ("a", "b"):
        result = groundex("eval", "--dataset", "twitter-gmner", "--split", "dev", "--data", str(data), "--out",
                          str(tmp_path / name), "--config", str(config), "--limit", "2", "--concurrency", "2")
        assert result.returncode == 0, result.stderr[-3000:]
    assert "no --image-dir: running text-only" in result.stderr
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["run"]["posts"] == 2 and metrics["gmner"]["available"] is False and metrics["mner"]["gold"] == 6
    again = groundex("eval", "--dataset", "twitter-gmner", "--split", "dev", "--data", str(data), "--out",
                     str(tmp_path / "a"), "--config", str(config), "--limit", "2")
    assert again.returncode == 0 and "resuming: 2 of 2 posts already done" in again.stderr
    extended = groundex("eval", "--dataset", "twitter-gmner", "--split", "dev", "--data", str(data), "--out",
                        str(tmp_path / "a"), "--config", str(config), "--limit", "3")
    assert extended.returncode == 0 and "resuming: 2 of 3 posts already done" in extended.stderr, extended.stderr[-3000:]
    assert json.loads((tmp_path / "a" / "metrics.json").read_text())["run"]["posts"] == 3
    other = groundex("eval", "--dataset", "twitter-gmner", "--split", "dev", "--data", str(data), "--out",
                     str(tmp_path / "a"), "--config", str(config), "--limit", "3", "--types", "PER")
    assert other.returncode == 2 and "holds a run with other settings (types)" in other.stderr
    compared = groundex("eval", "compare", str(tmp_path / "a"), str(tmp_path / "b"))
    assert compared.returncode == 0 and "MNER F1" in compared.stdout and "n/a" in compared.stdout
