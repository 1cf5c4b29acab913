"""Shared fixtures: where the repository, its examples and the shared datasets are; small test images; the
device the tiny-model tests run on. ``GROUNDEX_CACHE_DIR`` defaults to a fresh temporary folder for the run.

``GROUNDEX_TEST_DEVICE`` picks that device: ``cpu`` (the default, also on a machine with a GPU: CUDA is hidden
before torch starts) or ``cuda``. With ``cuda`` the components choose CUDA and bf16 as they do for a user (the
transformers planner, fine-tuning, SAM, CLIP and the detector); a run that asks for CUDA where there is none
stops at once instead of passing on the CPU.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from PIL import Image

TEST_DEVICE = os.environ.get("GROUNDEX_TEST_DEVICE", "cpu")
if TEST_DEVICE not in ("cpu", "cuda"):
    raise pytest.UsageError(f"GROUNDEX_TEST_DEVICE must be cpu or cuda, not {TEST_DEVICE!r}")
if TEST_DEVICE == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before any torch import: the default suite never touches a GPU
# what the tests convert, merge and snapshot (tokenizers of tiny models in temporary folders) stays out of the
# user's ~/.cache/groundex; tests that need a cache of their own still pass one explicitly
os.environ.setdefault("GROUNDEX_CACHE_DIR", tempfile.mkdtemp(prefix="groundex-test-cache-"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def mini_gmner() -> Path:
    return REPO_ROOT / "examples" / "mini-gmner"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "twitter-gmner-v2" / "train.txt").is_file():
        pytest.skip(f"the shared datasets are not at {SHARED_DATA} (they sit beside the checkout in CI)")
    return SHARED_DATA


@pytest.fixture()
def blue_image(tmp_path: Path) -> Path:
    """A 300 x 200 pixel image file."""
    path = tmp_path / "post.png"
    Image.new("RGB", (300, 200), (30, 60, 200)).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.tiny_models import build_tiny_qwen2_vl

    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("models") / "tiny-qwen2-vl")


@pytest.fixture(scope="session")
def test_device() -> str:
    """``cpu`` or ``cuda`` (``GROUNDEX_TEST_DEVICE``); with ``cuda`` it is checked to exist."""
    if TEST_DEVICE == "cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.exit("GROUNDEX_TEST_DEVICE=cuda, but torch sees no CUDA device", returncode=3)
    return TEST_DEVICE


@pytest.fixture(autouse=True)
def _models_run_on_the_test_device(request):
    """Every test that builds a tiny model sees the device check first (cheap: the fixture is session-wide)."""
    if any(name.startswith("tiny_") for name in request.fixturenames):
        request.getfixturevalue("test_device")
