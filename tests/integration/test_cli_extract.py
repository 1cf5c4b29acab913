"""``groundex extract`` in a real subprocess: the prediction line, the overlay, and user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from tests.integration.test_transformers_backend import tiny_config


def groundex(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "groundex.agent.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_extract_prints_a_prediction_line_and_writes_the_overlay(tiny_qwen2_vl, blue_image, tmp_path):
    overlay, out = tmp_path / "overlay.png", tmp_path / "result.json"
    result = groundex("extract", "--image", str(blue_image), "--text", "Messi scores again",
                      "--config", str(tiny_config(tmp_path, tiny_qwen2_vl)), "--overlay", str(overlay), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["id"] == "post" and isinstance(line["triples"], list)
    assert json.loads(out.read_text()) == line
    assert Image.open(overlay).size == (300, 200)
    assert "Loading weights" not in result.stderr and "%|" not in result.stderr  # library bars go to the log
    verbose = groundex("extract", "--image", str(blue_image), "--text", "Messi scores again", "--verbose",
                       "--config", str(tiny_config(tmp_path, tiny_qwen2_vl)))
    assert verbose.returncode == 0 and "Loading weights" in verbose.stderr  # --verbose: the libraries as they are


@pytest.mark.parametrize("setup,args,message", [
    ("missing", [], "does not exist"),
    ("text-file", [], "not a readable image"),
    ("truncated", [], "damaged or truncated"),
    ("ok", ["--text", "  "], "--text is empty"),
    ("ok", ["--profile", "nope"], "unknown profile 'nope'"),
    ("ok", ["--types", "types.toml"], "type file types.toml does not exist"),
    ("ok", ["--types", ""], "the types are empty"),
    ("ok", ["--out", "/proc/groundex-no/result.json"], "--out /proc/groundex-no/result.json: its folder cannot be made"),
    ("ok", ["--out", "."], "--out . is a folder"),
    ("ok", ["--overlay", "/proc/groundex-no/o.png"], "--overlay /proc/groundex-no/o.png: its folder cannot be made"),
])
def test_user_mistakes_give_one_line_and_exit_2(tmp_path, setup, args, message):
    image = tmp_path / "post.png"
    if setup in ("ok", "truncated"):
        Image.effect_noise((120, 80), 40).convert("RGB").save(image)
        if setup == "truncated":
            image.write_bytes(image.read_bytes()[:200])
    elif setup == "text-file":
        image.write_text("hello")
    text = [] if "--text" in args else ["--text", "Messi scores"]
    result = groundex("extract", "--image", str(image), *text, *args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
