"""Make docs/images/fleet-report.png, the report docs/fleet.md shows.

Three daemons run three hours of the synthetic store camera each (different visitors),
their events go through the central ingest into a private PostgreSQL (as ``edge-app
collect`` writes them), and ``edge-app report`` renders that database; headless chromium
photographs the top of the page::

    .venv/bin/python -m tests.browser.fleet_report_screenshot [OUT.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from edge_app.cli import main as edge_app
from edge_app.fleet.config import DatabaseConfig
from edge_app.fleet.database import migrate, open_database
from edge_app.fleet.ingest import IngestDatabase
from edge_app.tools.bench.postgres import private_postgres
from tests.browser.chromium import REPO, launch_browser
from tests.fleet_support import ingest_stores, run_offline_devices

STORES = {"store-berlin": 3, "store-hamburg": 8, "store-munich": 21}


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp, private_postgres() as server:
        folder = Path(tmp)
        stores = run_offline_devices(folder, STORES, duration_s=3 * 3600, people=64, fps=1.0)
        url = server.create_database("fleet")
        engine = open_database(DatabaseConfig(url=url))
        try:
            migrate(engine)
            ingest_stores(IngestDatabase(engine, "docs", 60.0, 300.0), stores)
        finally:
            engine.dispose()
        page_path = folder / "report.html"
        edge_app(["report", "--database", url, "--out", str(page_path)])
        with launch_browser() as browser:
            page = browser.new_page(viewport={"width": 1200, "height": 980})
            page.goto(page_path.as_uri())
            page.screenshot(path=str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "images" / "fleet-report.png")
