"""The main job on embedded defaults: the whole daemon on a synthetic store camera.

No model, no camera, no GPU: the built-in synthetic shop floor (with exact truth) goes
through the ``background`` segmenter, the analytics and the sinks (SQLite under
``var/demo/``, and MQTT when a broker answers on 127.0.0.1:1883), with a live per-zone
table, and ends with measured counts and dwell next to the truth, and why they differ
where they do.

Every run writes a fresh store (``var/demo/edge-app-<UTC time>.db``; the newest few are
kept), so events an earlier run left unpublished (``--mqtt off``, a broker that was down)
are never published by a later one; ``--store FILE`` continues a store on purpose. While
the live table shows, log lines go through the same console, above the table.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

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
KEEP_STORES = 5
"""Fresh demo stores kept in the state folder (the oldest go first)."""


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


def fresh_store(state_dir: Path, now: datetime | None = None) -> Path:
    """A new store path for this run in ``state_dir/demo``; older demo stores beyond the
    newest ``KEEP_STORES`` are deleted (with the files kept beside them)."""
    folder = state_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S-%f")
    path = folder / f"edge-app-{stamp}.db"
    old = sorted(folder.glob("edge-app-*.db"))
    for stale in old[: max(0, len(old) - (KEEP_STORES - 1))]:
        # The store, its WAL files and what the daemon keeps beside it (person sizes).
        for part in folder.glob(f"{stale.stem}.*"):
            part.unlink(missing_ok=True)
    return path


def demo_config(duration_s: float, store: Path, mqtt: str | None = "127.0.0.1:1883") -> AppConfig:
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
        store=StoreConfig(path=store.resolve()),
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


def explain(results: list[ZoneComparison]) -> list[str]:
    """Why the measured dwell is shorter than the truth, zone by zone, where it is by more
    than a quarter (and a second): visits split by lost tracks, people joined into one
    silhouette, or people found late."""
    lines = []
    for r in results:
        short = r.true_mean_dwell_s - r.measured_mean_dwell_s
        if r.true_visits == 0 or short <= max(1.0, 0.25 * r.true_mean_dwell_s):
            continue
        true_total = r.true_visits * r.true_mean_dwell_s
        measured_total = r.measured_visits * r.measured_mean_dwell_s
        totals = f"{true_total:.0f} s of dwell in all, {measured_total:.0f} s measured"
        if r.measured_visits > r.true_visits:
            lines.append(
                f"{r.zone}: {r.true_visits} true visits were measured as {r.measured_visits} "
                f"shorter ones ({totals}): a person lost for a moment comes back as a new "
                "track, and a new visit."
            )
        elif r.measured_visits < r.true_visits:
            lines.append(
                f"{r.zone}: {r.true_visits} true visits, {r.measured_visits} measured "
                f"({totals}): people standing side by side made one silhouette."
            )
        else:
            lines.append(
                f"{r.zone}: the measured visits are shorter ({totals}): people were found "
                "late, lost for a moment, or joined with a neighbour."
            )
    if lines:
        lines.insert(
            0,
            "Dwell is measured per tracked person. The demo's background segmenter has no "
            "model of a person: it sees what differs from the empty shop, so it loses people "
            "who stand still or are partly hidden for a moment, and joins people who stand "
            "close. A person segmentation model (onnxruntime, tensorrt) also sees people "
            "who stand still.",
        )
    return lines


@contextmanager
def logs_through(console: Console) -> Iterator[None]:
    """Route the root logger's records through ``console`` for the block, so that a live
    display keeps them above it instead of glued onto it."""
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved


def query_hint(store: Path) -> str:
    """How to look at the stored events with edge-app's own command."""
    here = Path(sys.executable).parent / "edge-app"
    command = str(here) if here.is_file() else "edge-app"
    return f"{command} events --store {store} --limit 5"


def run_demo(
    duration_s: float = 90.0,
    live: bool = True,
    state_dir: Path = Path("var"),
    mqtt: str | None = "127.0.0.1:1883",
    store: Path | None = None,
    console: Console | None = None,
) -> int:
    """The demo; ``store`` continues an existing store instead of a fresh one."""
    console = console or Console()
    path = store if store is not None else fresh_store(state_dir)
    config = demo_config(duration_s, path, mqtt)
    view = DemoView(config)
    app = App(config, load_camera_zones(config), view.on_result, view.on_finish)
    install_signal_handlers(app)
    console.print(
        f"[bold]edge-app demo[/]: synthetic camera {CAMERA_ID!r}, "
        f"{duration_s:g} s of store time, background segmenter, "
        f"events to {config.store.path}" + (" (continued)" if store is not None else "")
    )
    try:
        app.start()
        view.source = app.cameras[CAMERA_ID].source
        if live:
            # transient: the live table goes when it ends; the final one is printed below.
            with (
                logs_through(console),
                Live(view.table(), console=console, refresh_per_second=4, transient=True) as screen,
            ):
                view.screen = screen
                app.run()
            view.screen = None
        else:
            app.run()
    finally:
        app.stop(timeout_s=5.0)
    parts: list[RenderableType] = [view.table()]
    if view.comparison is not None:
        results = view.comparison.finish()
        parts.append(comparison_table(results))
        parts.extend(Text(line) for line in explain(results))
    console.print(Group(*parts))
    # Not wrapped: the command must stay copyable whatever the terminal's width.
    console.print(
        f"events stored in {config.store.path}; show them with: {query_hint(config.store.path)}",
        soft_wrap=True,
    )
    return 0
