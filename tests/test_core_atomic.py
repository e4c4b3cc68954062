"""Atomic file replacement: the new content or the old one, never half, no leftovers."""

from __future__ import annotations

import doctest
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import edge_app.core.atomic
from edge_app.core.atomic import write_atomic


@pytest.fixture
def umask_027() -> Iterator[None]:
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\x01engine", b"\x00\x01engine"),
        ("zone: caf\u00e9\r\n", "zone: caf\u00e9\r\n".encode()),
    ],
)
def test_replaces_the_file_with_exactly_the_data(
    tmp_path: Path, data: bytes | str, expected: bytes
) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old content that is longer than the new one")
    write_atomic(path, data)
    assert path.read_bytes() == expected
    assert names(tmp_path) == ["out.bin"]


def test_a_new_file_gets_the_umask_mode_unless_a_mode_is_given(
    tmp_path: Path, umask_027: None
) -> None:
    write_atomic(tmp_path / "plain", "x")
    write_atomic(tmp_path / "private", "x", 0o600)
    write_atomic(tmp_path / "shared", "x", 0o664)  # exactly this, the umask aside
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"plain": 0o640, "private": 0o600, "shared": 0o664}


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "zones.yaml"
    path.write_text("camera: old\n")

    def disk_error(_fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", disk_error)
    with pytest.raises(OSError, match="Input/output error"):
        write_atomic(path, "camera: new\n")
    assert path.read_text() == "camera: old\n"
    assert names(tmp_path) == ["zones.yaml"]


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    (target / "inside").mkdir(parents=True)  # a non-empty folder cannot be replaced
    with pytest.raises(OSError):
        write_atomic(target, b"data")
    assert target.is_dir() and names(tmp_path) == ["taken"]


def test_a_missing_folder_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no" / "such" / "file", b"data")
    assert names(tmp_path) == []


def test_the_docstring_example_runs() -> None:
    result = doctest.testmod(edge_app.core.atomic)
    assert result.attempted > 0 and result.failed == 0
