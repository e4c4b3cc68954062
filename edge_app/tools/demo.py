"""The main job on embedded defaults: the whole daemon on a synthetic store camera.

No model, no camera, no GPU: the built-in synthetic shop floor (with exact truth) goes
through the ``background`` segmenter, the analytics and the sinks (SQLite under
``var/``, and MQTT when a broker answers on 127.0.0.1:1883), with a live per-zone table,
and ends with measured counts and dwell next to the truth.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from edge_app.config import AppConfig, CameraConfig, MqttConfig, StoreConfig, SyntheticSourceConfig
from edge_app.config.zones import load_camera_zones, load_zones
from edge_app.core.errors import ConfigError
from edge_app.core.events import Event
from edge_app.pipeline.camera import CameraResult, zone_rules
from edge_app.runtime.app import App
from edge_app.runtime.daemon import install_signal_handlers
from edge_app.tools.evaluation.truth import (
    TruthComparison,
    TruthPoint,
    ZoneComparison,
    mean_count_mae,
)

CAMERA_ID = "store-floor"


def demo_zones_path() -> Path:
    """zones/store-floor.yaml of the source tree (or of the current directory)."""
    for base in (Path(__file__).resolve().parents[3], Path.cwd()):
        path = base / "zones" / f"{CAMERA_ID}.yaml"
        if path.is_file():
            return path
    raise ConfigError(
        f"zones/{CAMERA_ID}.yaml",
        None,
        "demo zone file not found",
        "run the demo from the edge-app source tree",
    )


def broker_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, port 1883) as given to ``--mqtt``."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, "1883"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("--mqtt", None, f"{text!r} is not HOST:PORT", "e.g. 127.0.0.1:1883")
    return host, int(port)


def demo_config(
    duration_s: float, state_dir: Path, mqtt: str | None = "127.0.0.1:1883"
) -> AppConfig:
    if mqtt is None:
        broker = MqttConfig(enabled=False)
    else:
        host, port = broker_address(mqtt)
        broker = MqttConfig(host=host, port=port)
    return AppConfig(
        device_id="demo",
        cameras=(
            CameraConfig(
                id=CAMERA_ID,
                source=SyntheticSourceConfig(duration_s=duration_s),
                zones=demo_zones_path(),
            ),
        ),
        store=StoreConfig(path=(state_dir / "edge-app.db").resolve()),
        mqtt=broker,
    )


class DemoView:
    """Live per-zone table and the truth comparison, fed one result at a time."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.zones = load_zones(config.cameras[0].zones)
        self.comparison: TruthComparison | None = None
        self.events = 0
        self.last: CameraResult | None = None
        self.truth_count: dict[str, int] = {}
        self.started = time.monotonic()
        self.source: object | None = None
        self.screen: Live | None = None

    def on_result(self, result: CameraResult) -> None:
        frame = result.frame
        if self.comparison is None:
            rules = zone_rules(self.zones, frame.size, self.config.analytics)
            self.comparison = TruthComparison(rules)
        truth = self._truth(frame.index)
        self.comparison.add_frame(frame.t, truth, result.analysis.states)
        self.comparison.add_events(result.events)
        self.events += len(result.events)
        self.last = result
        if self.screen is not None:
            self.screen.update(self.table())

    def _truth(self, index: int) -> list[TruthPoint]:
        truth_fn = getattr(self.source, "truth", None)
        if truth_fn is None:
            return []
        return [
            TruthPoint(p.person_id, float(p.foot[0]), float(p.foot[1]))
            for p in truth_fn(index)
            if p.visible
        ]

    def on_finish(self, events: tuple[Event, ...]) -> None:
        """Visits closed when the stream ended."""
        if self.comparison is not None:
            self.comparison.add_events(events)

    def table(self) -> Table:
        result = self.last
        title = "waiting for the first frame"
        if result is not None:
            title = (
                f"{CAMERA_ID}  t={result.frame.t:6.1f} s  frame {result.frame.index}  "
                f"{self.events} events"
            )
        table = Table(title=title)
        for col in ("zone", "count", "occupied", "longest dwell s", "coverage"):
            table.add_column(col, justify="left" if col == "zone" else "right")
        if result is not None:
            for st in result.analysis.states:
                table.add_row(
                    st.zone,
                    str(st.count),
                    "yes" if st.occupied else "-",
                    f"{st.longest_dwell_s:.1f}",
                    f"{st.coverage:.0%}",
                )
        return table


def comparison_table(results: list[ZoneComparison]) -> Table:
    table = Table(
        title=f"truth / measured (mean count error {mean_count_mae(results):.3f} people/frame)"
    )
    # Truth and measurement side by side in one column each: fits an 80-column terminal.
    for col in ("zone", "count MAE", "visits true/meas", "mean dwell s", "occupied s"):
        table.add_column(col, justify="left" if col == "zone" else "right", no_wrap=True)
    for r in results:
        table.add_row(
            r.zone,
            f"{r.count_mae:.3f}",
            f"{r.true_visits} / {r.measured_visits}",
            f"{r.true_mean_dwell_s:.1f} / {r.measured_mean_dwell_s:.1f}",
            f"{r.true_occupied_s:.1f} / {r.measured_occupied_s:.1f}",
        )
    return table


def run_demo(
    duration_s: float = 90.0,
    live: bool = True,
    state_dir: Path = Path("var"),
    mqtt: str | None = "127.0.0.1:1883",
) -> int:
    console = Console()
    config = demo_config(duration_s, state_dir, mqtt)
    view = DemoView(config)
    app = App(config, load_camera_zones(config), view.on_result, view.on_finish)
    install_signal_handlers(app)
    console.print(
        f"[bold]edge-app demo[/]: synthetic camera {CAMERA_ID!r}, "
        f"{duration_s:g} s of store time, background segmenter, "
        f"events to {config.store.path}"
    )
    try:
        app.start()
        view.source = app.cameras[CAMERA_ID].source
        if live:
            with Live(view.table(), console=console, refresh_per_second=4) as screen:
                view.screen = screen
                app.run()
            view.screen = None
        else:
            app.run()
    finally:
        app.stop(timeout_s=5.0)
    if view.comparison is not None:
        console.print(Group(view.table(), comparison_table(view.comparison.finish())))
    console.print(
        f"events stored in {config.store.path} "
        f"(query: sqlite3 {config.store.path} 'select * from events limit 5')"
    )
    return 0
