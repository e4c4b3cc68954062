"""Shared fixtures. Real test data lives in ../shared/data and is read in place."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path of a file in ../shared/data; skips the test when it is absent (a fresh clone)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"test data {path} is not present (it ships beside the repository in CI)")
    return path
