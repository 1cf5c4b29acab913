"""Data-parallel fine-tuning with two real processes on the CPU (torchrun, gloo) and the tiny random Qwen2-VL:
each process trains on its own share of every epoch, one process writes, and a resumed run redoes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from groundex.finetune.data import read_examples, write_examples
from groundex.finetune.train import (ADAPTER, CHECKPOINT, TRAINED_EXAMPLES, micro_steps_per_epoch, process_share,
                                     train)
from tests.integration.test_finetune import examples_to, mini_with_images  # noqa: F401 (a fixture)

COPIES = 3  # the four mini posts, three times under other ids: 12 examples


def test_process_shares_are_disjoint_and_cover_every_epoch():
    for examples, processes, batch in [(12, 2, 1), (13, 2, 2), (7, 3, 2), (5, 1, 2)]:
        order = list(range(examples))[::-1]
        shares = [process_share(order, m, processes, p, batch)
                  for m in range(micro_steps_per_epoch(examples, processes, batch)) for p in range(processes)]
        flat = [i for share in shares for i in share]
        assert sorted(flat) == list(range(examples)) and len(flat) == len(set(flat))
    assert process_share(list(range(8)), 0, 1, 0, 2) == [0, 1]  # one process: the single-process order


@pytest.fixture()
def twelve_examples(mini_with_images, tmp_path) -> Path:
    data = examples_to(tmp_path / "four.jsonl", mini_with_images)
    examples = read_examples(data)
    copies = [type(e)(**{**e.__dict__, "id": f"{e.id}-{n}"}) for n in range(COPIES) for e in examples]
    write_examples(tmp_path / "sft.jsonl", copies)
    return tmp_path / "sft.jsonl"


def write_config(path: Path, model: Path, data: Path, run: Path, **training) -> Path:
    settings = {"epochs": 2, "batch_size": 1, "gradient_accumulation": 2, "learning_rate": 1e-2, "warmup_ratio": 0.0,
                "gradient_checkpointing": False, "save_every": 2, **training}
    path.write_text(f'model = "{model}"\ndata = "{data}"\noutput_dir = "{run}"\n'
                    "[lora]\nrank = 8\nalpha = 16\ndropout = 0.0\n[training]\n"
                    + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
                    + "[images]\nmin_pixels = 3136\nmax_pixels = 12544\n")
    return path


def process_environment(processes: int) -> dict[str, str]:
    """The workers run on GPUs where there is one per process (GROUNDEX_TEST_DEVICE=cuda on a multi-GPU machine),
    else on the CPU with gloo: with fewer GPUs than processes training refuses to start (tested below)."""
    environment = dict(os.environ)
    if torch.cuda.device_count() < processes:
        environment["CUDA_VISIBLE_DEVICES"] = ""
    return environment


def torchrun_command(config: Path, processes: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
            "-m", "groundex.agent.cli", "finetune", "train", "--config", str(config)]


def torchrun(config: Path, repo_root: Path, processes: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun_command(config, processes), cwd=repo_root, capture_output=True, text=True,
                          timeout=600, env=process_environment(processes))


def test_more_processes_than_gpus_is_refused_with_what_to_run():
    from groundex.agent import GroundexError
    from groundex.finetune.train import check_gpus_per_process

    check_gpus_per_process(2, 0)  # CPU processes (gloo): any number
    check_gpus_per_process(2, 2)
    with pytest.raises(GroundexError, match="2 training processes .* 1 GPU\\(s\\).*--nproc_per_node 1"):
        check_gpus_per_process(2, 1)


@pytest.mark.slow
def test_two_processes_on_one_gpu_end_with_one_error_line(tiny_qwen2_vl, twelve_examples, tmp_path, repo_root):
    if torch.cuda.device_count() != 1:
        pytest.skip("needs a machine with exactly one visible GPU (GROUNDEX_TEST_DEVICE=cuda)")
    config = write_config(tmp_path / "run.toml", tiny_qwen2_vl, twelve_examples, tmp_path / "run")
    done = subprocess.run(torchrun_command(config), cwd=repo_root, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "error: 2 training processes were started on this machine, and it has 1 GPU(s)" in done.stderr
    assert "Duplicate GPU" not in done.stderr and not (tmp_path / "run" / "loss.csv").exists()


def shares_by_step(run: Path) -> dict[int, list[tuple[int, tuple[str, ...]]]]:
    steps: dict[int, list[tuple[int, tuple[str, ...]]]] = {}
    for row in (run / TRAINED_EXAMPLES).read_text().splitlines()[1:]:
        step, epoch, process, ids = row.split(",", 3)
        steps.setdefault(int(step), []).append((int(process), tuple(ids.split())))
    return steps


@pytest.mark.slow
def test_two_processes_train_disjoint_shares_write_once_and_resume_exactly(tiny_qwen2_vl, twelve_examples,
                                                                           tmp_path, repo_root):
    # 12 examples, 1 per process per micro-step, 2 micro-steps per optimizer step, 2 processes: 3 steps an epoch
    whole = tmp_path / "whole"
    done = torchrun(write_config(tmp_path / "whole.toml", tiny_qwen2_vl, twelve_examples, whole), repo_root)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("adapter:") == 1  # one process reports

    steps = shares_by_step(whole)
    assert sorted(steps) == list(range(1, 7))
    ids = {e.id for e in read_examples(twelve_examples)}
    for epoch_steps in ((1, 2, 3), (4, 5, 6)):
        trained = [i for step in epoch_steps for _, share in steps[step] for i in share]
        assert sorted(trained) == sorted(ids)  # each epoch: every example once, across both processes
    assert all(sorted(p for p, _ in steps[s]) == [0, 1] and all(len(share) == 2 for _, share in steps[s]) for s in steps)
    rows = (whole / "loss.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(1, 7))  # one line per optimizer step
    position = json.loads((whole / CHECKPOINT / "position.json").read_text())
    assert (position["step"], position["processes"]) == (6, 2)

    # one adapter, and it reloads with the logits of the run's last checkpoint (the same weights)
    from peft import PeftModel
    from transformers import AutoModelForImageTextToText

    from groundex.agent.encoding import ChatEncoder
    from groundex.finetune.train import encode_example

    inputs = encode_example(ChatEncoder.load(str(tiny_qwen2_vl), "qwen2-vl", 3136, 12544),
                            read_examples(twelve_examples)[0]).inputs

    def logits(adapter: Path | None) -> torch.Tensor:
        base = AutoModelForImageTextToText.from_pretrained(tiny_qwen2_vl)
        model = (PeftModel.from_pretrained(base, adapter) if adapter else base).eval()
        with torch.inference_mode():
            return model(**inputs).logits

    assert torch.equal(logits(whole / ADAPTER), logits(whole / CHECKPOINT / ADAPTER))
    assert not torch.allclose(logits(whole / ADAPTER), logits(None))

    # stopped after step 3 (its last checkpoint is step 3), then the same run again: it continues at step 4 with
    # exactly the examples the uninterrupted run trained on at each step
    parts = tmp_path / "parts"
    first = torchrun(write_config(tmp_path / "first.toml", tiny_qwen2_vl, twelve_examples, parts, max_steps=3,
                                  save_every=1), repo_root)
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = torchrun(write_config(tmp_path / "parts.toml", tiny_qwen2_vl, twelve_examples, parts), repo_root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert shares_by_step(parts) == steps
    assert [int(r.split(",")[0]) for r in (parts / "loss.csv").read_text().splitlines()[1:]] == list(range(1, 7))

    # a different number of processes is refused, with what to do
    from groundex.agent import GroundexError
    from groundex.finetune.config import load_train_config

    with pytest.raises(GroundexError, match="run of 2 process\\(es\\), and this run has 1: .* --nproc_per_node 2"):
        train(load_train_config(tmp_path / "parts.toml"))


@pytest.mark.slow
def test_sigterm_to_torchrun_ends_every_process_after_one_step_with_one_checkpoint(tiny_qwen2_vl, twelve_examples,
                                                                                   tmp_path, repo_root):
    import signal
    import time

    run = tmp_path / "run"
    config = write_config(tmp_path / "run.toml", tiny_qwen2_vl, twelve_examples, run, epochs=50, save_every=1000)
    launcher = subprocess.Popen(torchrun_command(config), cwd=repo_root, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=process_environment(2))
    loss_csv, deadline = run / "loss.csv", time.monotonic() + 300
    while not (loss_csv.is_file() and loss_csv.read_text().count("\n") >= 3):  # header + 2 steps
        assert launcher.poll() is None, launcher.stderr.read()[-3000:]
        assert time.monotonic() < deadline, "no training step within 300 s"
        time.sleep(0.05)
    launcher.send_signal(signal.SIGTERM)  # torchrun passes it on to both workers
    _, stderr = launcher.communicate(timeout=120)
    position = json.loads((run / CHECKPOINT / "position.json").read_text())
    assert 2 <= position["step"] < 300 and position["processes"] == 2, stderr[-3000:]
    steps = [int(r.split(",")[0]) for r in loss_csv.read_text().splitlines()[1:]]
    assert steps == list(range(1, position["step"] + 1))  # the checkpoint is after the last logged step
    assert stderr.count(f"interrupted: stopped after step {position['step']}") == 1
    assert not (run / ADAPTER).exists()
