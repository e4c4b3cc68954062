"""MQTT topics and the JSON published on them (see docs/mqtt.md). Pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from edge_app import __version__
from edge_app.core.domain import ZoneState
from edge_app.core.events import format_wall
from edge_app.sinks.base import PipelineStats

ONLINE = "online"
OFFLINE = "offline"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def topic_segment(name: str) -> str:
    """``name`` made safe as one topic level and as a Home Assistant id.

    Anything but letters, digits, ``-`` and ``_`` becomes ``_`` (``/``, ``+`` and ``#``
    would change the topic's meaning).

    >>> topic_segment("till 1/2")
    'till_1_2'
    """
    return _UNSAFE.sub("_", name) or "_"


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic of one device under ``base`` (``edge-app/{device_id}`` by default)."""

    base: str
    device: str

    @classmethod
    def create(cls, base_template: str, device: str) -> Topics:
        return cls(base_template.replace("{device_id}", device), device)

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    def state(self, camera: str, zone: str) -> str:
        return f"{self.base}/{topic_segment(camera)}/{topic_segment(zone)}/state"


def dumps(data: Mapping[str, Any]) -> str:
    """Compact JSON, UTF-8 as is."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def state_payload(
    state: ZoneState, wall: datetime, since_wall: datetime | None = None
) -> dict[str, Any]:
    """The retained state of a zone; ``wall`` is when the frame reached the sink (UTC).

    ``occupied_since`` is ``since_wall`` when given (the occupancy's start as first worked
    out, see ``StateBoard``), else turned from source-clock seconds into a UTC time with
    the same offset as ``wall``; ``occupied_s`` and ``longest_dwell_s`` are seconds;
    ``warming_up`` is there (true) only while the camera's segmenter is warming up after a
    cold start.
    """
    since: str | None = None
    occupied_s = 0.0
    if state.occupied and state.occupied_since is not None:
        occupied_s = max(0.0, state.t - state.occupied_since)
        began = since_wall if since_wall is not None else wall - timedelta(seconds=occupied_s)
        since = format_wall(began)
    payload: dict[str, Any] = {
        "camera": state.camera,
        "zone": state.zone,
        "count": state.count,
        "coverage": round(state.coverage, 3),
        "occupied": state.occupied,
        "occupied_since": since,
        "occupied_s": round(occupied_s, 3),
        "longest_dwell_s": round(state.longest_dwell_s, 3),
        "ts": format_wall(wall),
        "t": round(state.t, 3),
    }
    if state.warming_up:  # the segmenter does not trust its masks yet (a cold start)
        payload["warming_up"] = True
    return payload


def state_change(state: ZoneState) -> tuple[int, bool, float]:
    """What counts as a change worth publishing: count, occupied, coverage to 0.01."""
    return state.count, state.occupied, round(state.coverage, 2)


def stats_payload(
    device: str,
    pipeline: PipelineStats | None,
    sink: Mapping[str, int | float | bool],
    wall: datetime,
) -> dict[str, Any]:
    """The ``stats`` message: the pipeline's figures plus the sink's own (backlog, drops)."""
    cameras: dict[str, Any] = {}
    if pipeline is not None:
        for camera, cam in pipeline.cameras.items():
            cameras[camera] = {
                "fps": round(cam.fps, 2),
                "frames_dropped": cam.frames_dropped,
                "online": cam.online,
                "reconnects": cam.reconnects,
            }
    return {
        "device": device,
        "ts": format_wall(wall),
        "cameras": cameras,
        "inference_ms": round(pipeline.inference_ms, 2) if pipeline else None,
        "inference_p95_ms": pipeline.inference_p95_ms if pipeline else None,
        "frames_dropped": pipeline.frames_dropped if pipeline else 0,
        "events": dict(pipeline.events) if pipeline else {},
        "thread_restarts": dict(pipeline.thread_restarts) if pipeline else {},
        **sink,
    }


def discovery_messages(
    topics: Topics, prefix: str, camera: str, zone: str
) -> list[tuple[str, dict[str, Any]]]:
    """Home Assistant MQTT discovery for one zone: a count sensor and an occupancy binary
    sensor, both on the zone's state topic and the device's availability topic."""
    node = topic_segment(topics.device)
    obj = f"{topic_segment(camera)}_{topic_segment(zone)}"
    device_info = {
        "identifiers": [f"edge-app_{node}"],
        "name": f"edge-app {topics.device}",
        "manufacturer": "edge-app",
        "model": "edge-app retail analytics",
        "sw_version": __version__,
    }
    common = {
        "state_topic": topics.state(camera, zone),
        "availability_topic": topics.availability,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device_info,
    }
    count = {
        "name": f"{camera} {zone} people",
        "unique_id": f"edge-app_{node}_{obj}_count",
        "value_template": "{{ value_json.count }}",
        "unit_of_measurement": "people",
        "state_class": "measurement",
        "icon": "mdi:account-group",
        **common,
    }
    occupied = {
        "name": f"{camera} {zone} occupied",
        "unique_id": f"edge-app_{node}_{obj}_occupied",
        "value_template": "{{ 'ON' if value_json.occupied else 'OFF' }}",
        "payload_on": "ON",
        "payload_off": "OFF",
        "device_class": "occupancy",
        **common,
    }
    return [
        (f"{prefix}/sensor/{node}/{obj}_count/config", count),
        (f"{prefix}/binary_sensor/{node}/{obj}_occupied/config", occupied),
    ]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
