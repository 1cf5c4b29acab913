"""Shared fixtures: where the repository, its examples and the shared datasets are."""

from __future__ import annotations

from pathlib import Path

import pytest

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
