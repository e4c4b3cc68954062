"""scripts/fresh-machine-check.sh reads the machine's own apt sources and pip settings.

(The check itself, a debootstrap and both README commands, takes minutes and root; its
figures are in the README. Here: the parts that read this machine's configuration.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "fresh-machine-check.sh"


def _run(body: str) -> str:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    result = subprocess.run(
        [bash, "-c", f"source {SCRIPT}\n{body}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"},
    )
    return result.stdout


def test_mirrors_come_from_both_forms_of_apt_sources(tmp_path: Path) -> None:
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    one_line = tmp_path / "other.list"
    one_line.write_text("deb [arch=amd64 signed-by=/k.gpg] http://extra.example/x stable main\n")
    out = _run(
        f"apt_source_files() {{ echo {deb822}; echo {one_line}; }}\n"
        'apt_sources\ndebian_mirrors\necho "MIRROR=$MIRROR SECURITY=$SECURITY"'
    )
    lines = out.splitlines()
    assert "http://mirror.example/debian bookworm-updates" in lines
    assert "http://extra.example/x stable" in lines
    assert not any("src.example" in line for line in lines)  # deb-src is no binary source
    assert lines[-1] == (
        "MIRROR=http://mirror.example/debian SECURITY=http://security.example/debian-security"
    )


def test_local_pip_paths_are_found_for_the_root(tmp_path: Path) -> None:
    conf = tmp_path / "pip.conf"
    conf.write_text(
        "[global]\nextra-index-url = file:///opt/pypi/simple\n"
        "    file:///opt/more/simple/\nfind-links = /opt/wheels\n"
        "index-url = https://index.example/simple\ntimeout = 60\n"
    )
    out = _run(
        f"pip_config_files() {{ echo {conf}; }}\n"
        "PIP_CERT=/etc/ssl/certs/ca.crt PIP_DEFAULT_TIMEOUT=9 pip_local_paths"
    )
    # An index's .../simple stands for its folder, where its files lie beside it.
    assert out.split() == ["/etc/ssl/certs/ca.crt", "/opt/more", "/opt/pypi", "/opt/wheels"]
