"""``edge-app report`` in a real headless chromium: the page made from the central
PostgreSQL (two stores, fed by two daemons' events through the ingest) and from one
device's SQLite renders its charts, fetches nothing and logs no error. Screenshots are
kept in test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge_app.cli import main
from edge_app.fleet.config import DatabaseConfig
from edge_app.fleet.database import migrate, open_database
from edge_app.fleet.ingest import IngestDatabase
from tests.browser.chromium import ARTIFACTS, launch_browser
from tests.fleet_support import ingest_stores, run_offline_devices
from tests.pg_server import fleet_url, postgres  # noqa: F401 (fixtures)

DEVICES = {"store-north": 5, "store-south": 9}
ZONES = 4  # zones/store-floor.yaml


@pytest.fixture
def browser() -> Iterator[Any]:
    with launch_browser() as chromium:
        yield chromium


def open_report(browser: Any, path: Path, shot: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda r: problems.append(f"fetched {r.url}") if r.url != path.as_uri() else None,
    )
    page.goto(path.as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    return page, problems


def test_the_report_renders_per_store_and_per_zone_charts_from_both_sources(
    tmp_path: Path,
    browser: Any,
    fleet_url: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    stores = run_offline_devices(tmp_path, DEVICES, duration_s=900, people=24)
    engine = open_database(DatabaseConfig(url=fleet_url))
    try:
        migrate(engine)
        assert ingest_stores(IngestDatabase(engine, "test", 60.0, 300.0), stores) > 50
    finally:
        engine.dispose()

    central = tmp_path / "fleet.html"
    assert main(["report", "--database", fleet_url, "--out", str(central)]) == 0
    assert "2 store(s), 8 zone(s)" in capsys.readouterr().out
    page, problems = open_report(browser, central, "fleet-report.png")
    assert problems == []
    sections = page.locator("section.store")
    assert sections.count() == 2
    assert [sections.nth(i).get_attribute("data-device") for i in range(2)] == list(DEVICES)
    # A store-wide chart and three per zone, each with something drawn.
    assert page.locator("svg").count() == 2 * (1 + 3 * ZONES)
    assert page.locator("polyline.mean").count() == 2 * ZONES
    drawn = page.locator("rect.bar").evaluate_all(
        "bars => bars.filter(b => b.getBBox().height > 0).length"
    )
    assert drawn > 2 * ZONES
    assert page.locator("h3", has_text="store-floor / checkout-1").count() == 2

    device = tmp_path / "one.html"
    store = stores["store-south"]
    assert main(["report", "--sqlite", str(store), "--out", str(device)]) == 0
    page, problems = open_report(browser, device, "device-report.png")
    assert problems == []
    assert page.locator("section.store").get_attribute("data-device") == "store-south"
    assert page.locator("svg").count() == 1 + 3 * ZONES
