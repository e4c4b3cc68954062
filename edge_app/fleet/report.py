"""``edge-app report``: one day of a fleet (or of one device) as a self-contained HTML page.

The data comes from the shared tables (``sinks.schema``), so the same code reads the
central PostgreSQL and one device's SQLite store (where ``device`` is null in samples and
visits: the device is then named from its events). Per store and per zone: occupancy over
the day (the mean and the highest count of each sample), visits per hour and the dwell
distribution. The page is inline SVG and CSS only: no script, no fetch (its
Content-Security-Policy forbids any), so it can be mailed or archived as one file.
"""

from __future__ import annotations

import html
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from edge_app import __version__
from edge_app.core.errors import StoreError
from edge_app.fleet.charts import bar_chart, line_chart
from edge_app.sinks import schema

DWELL_BINS_S: tuple[float, ...] = (0, 10, 30, 60, 120, 300, 600)
"""Lower bounds (seconds) of the dwell histogram's bins; the last is open-ended."""


@dataclass
class ZoneDay:
    """One zone's day: ``occupancy`` is (hour of day, mean count, max count) per sample."""

    camera: str
    zone: str
    occupancy: list[tuple[float, float, int]] = field(default_factory=list)
    visits_per_hour: list[int] = field(default_factory=lambda: [0] * 24)
    dwell_s: list[float] = field(default_factory=list)


@dataclass
class StoreDay:
    device: str
    zones: dict[tuple[str, str], ZoneDay] = field(default_factory=dict)

    def zone(self, camera: str, zone: str) -> ZoneDay:
        return self.zones.setdefault((camera, zone), ZoneDay(camera, zone))


@dataclass
class ReportData:
    day: date
    source: str
    stores: dict[str, StoreDay] = field(default_factory=dict)

    def store(self, device: str) -> StoreDay:
        return self.stores.setdefault(device, StoreDay(device))


def _hour(wall: float, start: float) -> float:
    return (wall - start) / 3600.0


def latest_day(conn: Connection) -> date | None:
    """The UTC day of the newest sample or visit."""
    newest = max(
        conn.execute(select(func.max(schema.occupancy_samples.c.wall_start))).scalar() or 0.0,
        conn.execute(select(func.max(schema.visits.c.entered_wall))).scalar() or 0.0,
    )
    if not newest:
        return None
    return datetime.fromtimestamp(newest, timezone.utc).date()


def load_day(conn: Connection, day: date, source: str, device: str | None = None) -> ReportData:
    """Samples and visits that began on ``day`` (UTC); ``device`` limits it to one store.

    Rows without a device (a device's own store) are named after its events' device.
    """
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
    end = start + 86_400.0
    fallback = conn.execute(select(schema.events.c.device).limit(1)).scalar() or "device"
    data = ReportData(day, source)
    s = schema.occupancy_samples
    query = select(s.c.device, s.c.camera, s.c.zone, s.c.wall_start, s.c.mean_count, s.c.max_count)
    query = query.where(s.c.wall_start >= start, s.c.wall_start < end).order_by(s.c.wall_start)
    if device is not None:
        query = query.where(func.coalesce(s.c.device, fallback) == device)
    for dev, camera, zone, wall, mean, peak in conn.execute(query):
        item = data.store(dev or fallback).zone(camera, zone)
        item.occupancy.append((_hour(wall, start), float(mean), int(peak)))
    v = schema.visits
    visits = select(v.c.device, v.c.camera, v.c.zone, v.c.entered_wall, v.c.dwell_s, v.c.closed_by)
    visits = visits.where(v.c.entered_wall >= start, v.c.entered_wall < end)
    if device is not None:
        visits = visits.where(func.coalesce(v.c.device, fallback) == device)
    for dev, camera, zone, wall, dwell, closed_by in conn.execute(visits):
        item = data.store(dev or fallback).zone(camera, zone)
        item.visits_per_hour[min(23, int(_hour(wall, start)))] += 1
        if closed_by == "exit" and dwell is not None:
            item.dwell_s.append(float(dwell))
    return data


def read_report(conn: Connection, source: str, day: date | None, device: str | None) -> ReportData:
    """The report's data; ``StoreError`` when the database cannot be read."""
    try:
        chosen = day or latest_day(conn) or datetime.now(timezone.utc).date()
        return load_day(conn, chosen, source, device)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(
            f"cannot read {source}: {reason} (is it an edge-app store or central database?)"
        ) from exc


def dwell_histogram(dwell_s: list[float]) -> tuple[list[str], list[int]]:
    """Counts per ``DWELL_BINS_S`` bin, with labels (seconds) such as ``10-30`` and ``600+``.

    >>> labels, counts = dwell_histogram([5.0, 12.0, 700.0])
    >>> labels[:2], labels[-1], counts
    (['0-10', '10-30'], '600+', [1, 1, 0, 0, 0, 0, 1])
    """
    bins = DWELL_BINS_S
    counts = [0] * len(bins)
    for value in dwell_s:
        index = max(i for i, low in enumerate(bins) if value >= low) if value >= 0 else 0
        counts[index] += 1
    labels = [f"{lo:g}-{hi:g}" for lo, hi in itertools.pairwise(bins)]
    labels.append(f"{bins[-1]:g}+")
    return labels, counts


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2733;background:#f7f8fa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
h3{font-size:15px;margin:14px 0 6px}.meta{color:#5b6673}
.store{background:#fff;border:1px solid #d9dee4;border-radius:8px;padding:12px 16px;
margin-bottom:18px}.zone{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure{margin:0}figcaption{font-size:12px;color:#5b6673}
.summary{border-collapse:collapse;margin:6px 0 4px}
.summary td,.summary th{padding:2px 10px;text-align:right;border-bottom:1px solid #e6e9ed}
.summary th:first-child,.summary td:first-child{text-align:left}
"""


def _zone_summary(store: StoreDay) -> str:
    rows = []
    for item in sorted(store.zones.values(), key=lambda z: (z.camera, z.zone)):
        visits = sum(item.visits_per_hour)
        peak = max((p for _, _, p in item.occupancy), default=0)
        dwell = sorted(item.dwell_s)
        median = f"{dwell[len(dwell) // 2]:.0f} s" if dwell else "-"
        rows.append(
            f"<tr><td>{html.escape(item.camera)} / {html.escape(item.zone)}</td>"
            f"<td>{visits}</td><td>{peak}</td><td>{median}</td></tr>"
        )
    return (
        '<table class="summary"><tr><th>zone</th><th>visits</th><th>peak people</th>'
        "<th>median dwell</th></tr>" + "".join(rows) + "</table>"
    )


def _active_hours(store: StoreDay) -> tuple[int, int]:
    """The hours of the day the store's samples span (whole hours), for the x axis."""
    hours = [h for z in store.zones.values() for h, _, _ in z.occupancy]
    if not hours:
        return 0, 24
    return int(min(hours)), min(24, int(max(hours)) + 1)


def render_html(data: ReportData) -> str:
    """The whole page."""
    title = f"edge-app report, {data.day.isoformat()} (UTC)"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>{len(data.stores)} store(s) from {html.escape(data.source)}; "
        f"edge-app {__version__}, made {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. "
        "Hours are UTC.</p>",
    ]
    if not data.stores:
        parts.append("<p>No occupancy samples or visits on this day.</p>")
    hours = [f"{h:02d}" for h in range(24)]
    for device in sorted(data.stores):
        store = data.stores[device]
        parts.append(f"<section class='store' data-device='{html.escape(device)}'>")
        parts.append(f"<h2>Store {html.escape(device)}</h2>{_zone_summary(store)}")
        totals = [0] * 24
        for item in store.zones.values():
            totals = [a + b for a, b in zip(totals, item.visits_per_hour, strict=True)]
        parts.append(bar_chart(totals, hours, "Visits per hour, all zones", width=720, height=150))
        span = _active_hours(store)
        for key in sorted(store.zones):
            item = store.zones[key]
            labels, counts = dwell_histogram(item.dwell_s)
            name = f"{item.camera} / {item.zone}"
            parts.append(f"<h3>{html.escape(name)}</h3><div class='zone'>")
            parts.append(line_chart(item.occupancy, "People (mean line, max area)", span))
            parts.append(bar_chart(item.visits_per_hour, hours, "Visits per hour"))
            parts.append(bar_chart(counts, labels, "Dwell of the visits (s)", color="#7a5cc7"))
            parts.append("</div>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def day_arg(text: str) -> date:
    """``YYYY-MM-DD`` (UTC) for ``--day``; ``today`` and ``yesterday`` work too."""
    today = datetime.now(timezone.utc).date()
    if text == "today":
        return today
    if text == "yesterday":
        return today - timedelta(days=1)
    return date.fromisoformat(text)
