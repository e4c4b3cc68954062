"""Helpers for the browser tests: Debian's chromium under Playwright, and the editor process.

Playwright's own browser download is not used: the tests drive the system's chromium
(``apt-get install chromium``, done by scripts/test.sh) through ``executable_path``. The
flags keep it from reaching the network by itself (component updates, sync, background
requests); Playwright gives it a fresh profile directory on every launch.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # the tests may run as root (CI), where chromium's sandbox refuses
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
_URL = re.compile(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+")


def chromium_path() -> str:
    """The system chromium; skips the test with the reason when it is not installed."""
    for candidate in (
        os.environ.get("EDGE_APP_CHROMIUM"),
        shutil.which("chromium"),
        "/usr/bin/chromium",
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("chromium is not installed (scripts/test.sh installs it: apt-get install chromium)")


@contextmanager
def launch_browser() -> Iterator[Any]:
    """A headless chromium; skips when Playwright or chromium is missing."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
    )
    executable = chromium_path()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def zone_editor(args: Sequence[str], timeout_s: float = 60.0, cwd: Path = REPO) -> Iterator[str]:
    """Run ``edge-app zones edit ARGS`` and yield the URL it prints; stops it afterwards."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the package, also from another cwd
    process = subprocess.Popen(
        [sys.executable, "-m", "edge_app", "zones", "edit", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=read, daemon=True).start()
    output: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=timeout_s)
            except queue.Empty:
                pytest.fail(f"the zone editor printed no URL in {timeout_s} s: {output}")
            if not line:
                pytest.fail(f"the zone editor ended before serving: {''.join(output)}")
            output.append(line)
            match = _URL.search(line)
            if match:
                break
        yield match.group(0)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def image_to_page(
    page: Any, point: tuple[float, float], image_size: tuple[int, int]
) -> tuple[float, float]:
    """Page coordinates of a picture pixel on the editor's canvas (it is shown scaled)."""
    box = page.locator("#canvas").bounding_box()
    return (
        box["x"] + (point[0] + 0.5) * box["width"] / image_size[0],
        box["y"] + (point[1] + 0.5) * box["height"] / image_size[1],
    )


def click_picture(
    page: Any, points: Sequence[tuple[float, float]], image_size: tuple[int, int]
) -> None:
    for point in points:
        x, y = image_to_page(page, point, image_size)
        page.mouse.click(x, y)
