"""Shared fixtures: where the repository, its examples and the shared datasets are; small test images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

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
