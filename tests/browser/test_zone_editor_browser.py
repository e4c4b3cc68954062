"""The zone editor in a real headless chromium: draw by clicks, save, read the file back.

Runs the real ``edge-app zones edit`` on a frame of a clip of the synthetic shop camera,
written by the test itself (640x480, the size of the zone file it edits). Screenshots of
the page are kept in test-artifacts/ for review.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_app.config import SyntheticSourceConfig
from edge_app.config.zones import load_zones, parse_zones
from edge_app.core.errors import ConfigError
from edge_app.sources.synthetic.clip import write_clip
from edge_app.sources.synthetic.scene import SyntheticSource
from tests.browser.chromium import (
    ARTIFACTS,
    click_picture,
    image_to_page,
    launch_browser,
    zone_editor,
)

REPO = Path(__file__).resolve().parents[2]
SIZE = (640, 480)
DOORWAY = [(262, 300), (430, 300), (440, 400), (250, 400)]
BOW_TIE = [(60, 250), (200, 420), (200, 250), (60, 420)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_browser() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight seconds of the synthetic shop at 640x480 (80 frames)."""
    scene = SyntheticSourceConfig(duration_s=8.0, width=SIZE[0], height=SIZE[1])
    clip = tmp_path_factory.mktemp("clip") / "shop.avi"
    return write_clip(SyntheticSource("shop", scene), clip)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"script errors on the page: {errors}"


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=30_000)


def _assert_close(points: list[list[float]], expected: list[tuple[int, int]]) -> None:
    assert len(points) == len(expected)
    for (x, y), (ex, ey) in zip(points, expected, strict=True):
        assert abs(x - ex) <= 1 and abs(y - ey) <= 1, (points, expected)


def test_draw_a_zone_by_clicks_save_it_and_see_a_bad_one_refused(
    page: Any, video: Path, tmp_path: Path
) -> None:
    zones_file = tmp_path / "tud.yaml"
    args = ["--video", str(video), "--zones", str(zones_file), "--camera", "tud-stadtmitte"]
    with zone_editor([*args, "--frame", "60", "--no-preview"]) as url:
        _open(page, url)
        assert page.inner_text("#zones-file").endswith("(new file)")

        page.click("#add-zone")
        click_picture(page, [*DOORWAY, DOORWAY[0]], SIZE)  # the last click closes it
        page.fill("#zone-id", "doorway")
        page.fill("#zone-name", "Shop entrance")
        page.fill("#zone-capacity", "3")
        page.click("#save")
        _wait_result(page, "ok")
        assert page.inner_text("#status") == "Saved"
        assert page.inner_text("#message") == f"Saved {zones_file}."

        saved = yaml.safe_load(zones_file.read_text(encoding="utf-8"))
        assert saved["camera"] == "tud-stadtmitte" and saved["frame_size"] == [640, 480]
        (zone,) = saved["zones"]
        assert {k: v for k, v in zone.items() if k != "polygon"} == {
            "id": "doorway",
            "name": "Shop entrance",
            "capacity": 3,
        }
        _assert_close(zone["polygon"], DOORWAY)
        assert load_zones(zones_file).get("doorway").capacity == 3  # passes edge-app check
        page.screenshot(path=str(_artifact("zone-editor.png")))

        before = zones_file.read_bytes()
        page.click("#add-zone")
        click_picture(page, BOW_TIE, SIZE)
        page.keyboard.press("Enter")
        page.click("#save")
        _wait_result(page, "error")
        page.screenshot(path=str(_artifact("zone-editor-invalid.png")))

        bad = {**saved, "zones": [zone, {"id": "zone-2", "polygon": [list(p) for p in BOW_TIE]}]}
        with pytest.raises(ConfigError) as expected:
            parse_zones(bad, zones_file)
        assert page.inner_text("#message") == str(expected.value)
        assert "zones[1].polygon: zone 'zone-2' crosses itself" in str(expected.value)
        assert page.inner_text("#status").startswith("Not saved")
        assert zones_file.read_bytes() == before


def test_drag_a_corner_of_an_existing_zone_keeps_the_files_comments(
    page: Any, video: Path, tmp_path: Path
) -> None:
    zones_file = tmp_path / "tud.yaml"
    shutil.copy(REPO / "tests" / "zones" / "tud-stadtmitte.yaml", zones_file)
    original = zones_file.read_text(encoding="utf-8")
    with zone_editor(["--video", str(video), "--zones", str(zones_file), "--no-preview"]) as url:
        _open(page, url)
        assert page.locator("#zone-list li").count() == 3

        page.click("#zone-list li:nth-child(2)")  # doorway: [[262, 215], [430, 215], ...]
        start = image_to_page(page, (430, 215), SIZE)
        end = image_to_page(page, (400, 240), SIZE)
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(*end, steps=5)
        page.mouse.up()
        page.click("#save")
        _wait_result(page, "ok")

    text = zones_file.read_text(encoding="utf-8")
    comments = [line for line in original.splitlines() if line.startswith("#")]
    assert comments and all(line in text for line in comments)
    doorway = load_zones(zones_file).get("doorway")
    moved = [list(p) for p in doorway.polygon]
    _assert_close(moved, [(262, 215), (400, 240), (430, 345), (262, 345)])
    changed = [a for a, b in zip(original.splitlines(), text.splitlines(), strict=True) if a != b]
    assert changed == ["    polygon: [[262, 215], [430, 215], [430, 345], [262, 345]]"]


def _wait_result(page: Any, kind: str) -> None:
    """Wait for the page's result box to show ``kind`` (ok/error); fail with what it shows."""
    try:
        page.wait_for_selector(f"#result.{kind}", timeout=15_000)
    except Exception as exc:  # Playwright's TimeoutError: report what the page said instead
        page.screenshot(path=str(_artifact("zone-editor-failure.png")))
        shown = page.inner_text("#result") if page.locator("#result").is_visible() else "nothing"
        pytest.fail(f"expected a {kind} result, the page shows: {shown!r} ({exc})")


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
