"""The terminal chat in a real pseudo-terminal, with a real profile (spaCy planner, OpenCV tools) and a real
SQLite thread store: two turns, then the thread resumed by a new process."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.support.terminal import PtySession, save_transcript_svg

pytestmark = pytest.mark.slow
POST = "Astronaut Eileen Collins at NASA in Houston"


def chat(tmp_path: Path, repo_root: Path, *args: str) -> PtySession:
    argv = [sys.executable, "-m", "groundex.agent.cli", "chat", "--profile", "spacy-baseline",
            "--threads-db", str(tmp_path / "threads.sqlite"), "--overlay-dir", str(tmp_path / "overlays"), *args]
    return PtySession(argv, cwd=tmp_path, env={"GROUNDEX_CACHE_DIR": str(tmp_path / "cache")})


def test_two_turns_then_the_thread_resumes_in_a_new_process(tmp_path, repo_root):
    first = chat(tmp_path, repo_root, "--image", str(repo_root / "examples/images/astronaut.png"))
    first.expect(r"you> ")
    first.send(POST)
    first.expect(r"3 entities")
    assert "Astronaut Eileen Collins" in first.output and "NASA" in first.output
    overlay = Path(first.expect(r"overlay: (\S+\.png)").group(1))
    assert overlay.is_file()
    first.expect(r"you> ")
    first.send("remove NASA")
    first.expect(r"2 entities")
    assert "Removed 'NASA'" in first.output
    first.expect(r"you> ")
    first.send("/quit")
    thread = first.expect(r"resume with: groundex chat --thread (\w+)").group(1)
    assert first.close() == 0
    shots = Path(os.environ.get("GROUNDEX_SCREENSHOTS", tmp_path))
    assert save_transcript_svg(first.transcript, shots / "terminal-chat.svg", "groundex chat").stat().st_size > 5000

    second = chat(tmp_path, repo_root, "--thread", thread)
    second.expect(r"2 entities")  # the corrected result, read back from SQLite
    assert "NASA" not in second.output.split("2 entities")[1]
    second.expect(r"you> ")
    second.send("Houston is an ORG")
    second.expect(r"is now ORG")
    second.expect(r"you> ")
    second.send("/threads")
    second.expect(thread + r".*Astronaut")
    second.send("/quit")
    assert second.close() == 0


def test_a_mistyped_command_or_a_bad_image_is_an_error_line_not_the_end_of_the_chat(tmp_path, repo_root):
    session = chat(tmp_path, repo_root)
    session.expect(r"you> ")
    session.send("/image /no/such/file.png")
    session.expect(r"error: .*file\.png")
    session.send("/colour red")
    session.expect(r"error: unknown command /colour")
    session.send("/quit")
    assert session.close() == 0
