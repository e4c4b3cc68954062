"""The package metadata a fresh install reads."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is part of Python from 3.11")
def test_license_is_an_spdx_string() -> None:
    import tomllib

    # A `license = {text = ...}` table makes setuptools >= 77 warn on every install.
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    # setuptools reads an SPDX string from 77 on.
    assert "setuptools>=77" in project["build-system"]["requires"]
