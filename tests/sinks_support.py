"""Helpers for the sink and MQTT tests: configs, events and zone states."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from edge_app.config import AppConfig
from edge_app.core.domain import ZoneState
from edge_app.core.events import (
    Event,
    EventStamper,
    ZoneEnter,
    ZoneEvent,
    ZoneExit,
    ZoneOccupancy,
)

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


def app_config(
    tmp_path: Path, broker: Any | None = None, device: str = "edge-1", **mqtt: Any
) -> AppConfig:
    """A config for the sinks alone: a store in ``tmp_path``; MQTT on ``broker`` (or off)."""
    mqtt_cfg: dict[str, Any] = {"enabled": broker is not None}
    if broker is not None:
        mqtt_cfg |= {
            "host": broker.host,
            "port": broker.port,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
            "connect_timeout_s": 2.0,
            "keepalive_s": 5,
        }
    mqtt_cfg |= mqtt
    return AppConfig.model_validate(
        {
            "device_id": device,
            "cameras": [
                {"id": "cam1", "source": {"type": "synthetic"}, "zones": str(tmp_path / "z.yaml")}
            ],
            "store": {"path": str(tmp_path / "var" / "edge.db"), "retention_check_s": 3600},
            "mqtt": mqtt_cfg,
        }
    )


def zone_events(n: int, camera: str = "cam1", zone: str = "till") -> Iterator[ZoneEvent]:
    """``n`` analytics events: occupancy changes, enters and exits of tracks in turn
    (every enter is followed by its exit, so no visit stays open)."""
    for i in range(n):
        t = float(i)
        track = 1000 + i // 3
        kind = i % 3
        if kind == 0:
            yield ZoneEvent(camera, zone, t, ZoneOccupancy(1, 0.25, True))
        elif kind == 1:
            yield ZoneEvent(camera, zone, t, ZoneEnter(track))
        else:
            yield ZoneEvent(camera, zone, t, ZoneExit(track, 1.0, t - 1.0))


def stamped(stamper: EventStamper, n: int, **kwargs: Any) -> list[Event]:
    """``n`` stamped events, wall times one second apart from ``T0`` by source time."""
    return [stamper.stamp(e, T0 + timedelta(seconds=e.t)) for e in zone_events(n, **kwargs)]


def state(
    t: float,
    count: int = 0,
    coverage: float = 0.0,
    occupied: bool = False,
    since: float | None = None,
    camera: str = "cam1",
    zone: str = "till",
    dwell: dict[int, float] | None = None,
) -> ZoneState:
    return ZoneState(camera, zone, t, count, coverage, occupied, since, dwell or {})


class OpenSinks:
    """Sinks a test opened; ``close_all`` (in a fixture's teardown) closes what is left,
    so a failing test never leaves a publisher thread running into the next one."""

    def __init__(self) -> None:
        self.sinks: list[Any] = []

    def add(self, sink: Any) -> Any:
        self.sinks.append(sink)
        return sink

    def close_all(self) -> None:
        for sink in self.sinks:
            sink.close(0.5)


@contextmanager
def closing_sinks() -> Iterator[OpenSinks]:
    opened = OpenSinks()
    try:
        yield opened
    finally:
        opened.close_all()
