"""What arrives from the devices: topics to subscribe to, and messages parsed. Pure.

Devices publish under ``mqtt.base_topic`` (``edge-app/{device_id}`` by default, see
docs/mqtt.md): events on ``{base}/events``, retained zone states on
``{base}/{camera}/{zone}/state``. A message that is not valid is reported with its reason
and acknowledged (there is nothing to store), never retried forever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from edge_app.core.events import Event, parse_wall


@dataclass(frozen=True, slots=True)
class DeviceTopics:
    """The device topic template, e.g. ``edge-app/{device_id}``, split into levels."""

    levels: tuple[str, ...]

    @classmethod
    def create(cls, template: str) -> DeviceTopics:
        return cls(tuple(template.split("/")))

    @property
    def _index(self) -> int:
        return self.levels.index("{device_id}")

    def _base(self) -> str:
        return "/".join("+" if level == "{device_id}" else level for level in self.levels)

    def subscriptions(self, group: str) -> list[str]:
        """The shared subscriptions of a collector in ``group``: events and zone states."""
        base = self._base()
        return [f"$share/{group}/{base}/events", f"$share/{group}/{base}/+/+/state"]

    def device_of(self, topic: str) -> tuple[str, list[str]] | None:
        """The device of a topic and the levels after its base; None if not a device's."""
        parts = topic.split("/")
        n = len(self.levels)
        if len(parts) <= n:
            return None
        for level, part in zip(self.levels, parts, strict=False):
            if level != "{device_id}" and level != part:
                return None
        return parts[self._index], parts[n:]


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """An event as received: parsed, with the exact JSON text to store."""

    event: Event
    text: str


@dataclass(frozen=True, slots=True)
class IncomingState:
    """A zone state (``docs/mqtt.md``); ``wall`` is its ``ts`` in epoch seconds."""

    device: str
    camera: str
    zone: str
    count: int
    coverage: float
    occupied: bool
    occupied_s: float
    longest_dwell_s: float
    wall: float
    t: float

    @property
    def key(self) -> tuple[str, str, str]:
        return self.device, self.camera, self.zone

    def as_row(self, received_at: float) -> dict[str, Any]:
        return {
            "device": self.device,
            "camera": self.camera,
            "zone": self.zone,
            "count": self.count,
            "coverage": self.coverage,
            "occupied": self.occupied,
            "occupied_s": self.occupied_s,
            "longest_dwell_s": self.longest_dwell_s,
            "wall": self.wall,
            "t": self.t,
            "received_at": received_at,
        }


class InvalidMessage(ValueError):
    """A message that cannot be stored; the text says why."""


def _json(payload: bytes) -> tuple[str, dict[str, Any]]:
    try:
        text = payload.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidMessage("not a JSON object")
    return text, data


def parse_message(
    topics: DeviceTopics, topic: str, payload: bytes
) -> IncomingEvent | IncomingState:
    """Parse one message; ``InvalidMessage`` says why it cannot be stored.

    >>> t = DeviceTopics.create("edge-app/{device_id}")
    >>> t.subscriptions("g")
    ['$share/g/edge-app/+/events', '$share/g/edge-app/+/+/+/state']
    >>> parse_message(t, "edge-app/edge-1/events", b"[]")
    Traceback (most recent call last):
    ...
    edge_app.fleet.messages.InvalidMessage: not a JSON object
    """
    found = topics.device_of(topic)
    if found is None:
        raise InvalidMessage(f"topic {topic!r} is not a device's")
    device, rest = found
    text, data = _json(payload)
    try:
        if rest == ["events"]:
            event = Event.from_dict(data)
            if event.device != device:
                raise InvalidMessage(f"event of device {event.device!r} on {device!r}'s topic")
            if event.seq < 1 or len(event.id) > 32:
                raise InvalidMessage(f"bad id or seq ({event.id!r}, {event.seq})")
            return IncomingEvent(event, text)
        if len(rest) == 3 and rest[2] == "state":
            return IncomingState(
                device=device,
                camera=str(data["camera"]),
                zone=str(data["zone"]),
                count=int(data["count"]),
                coverage=float(data["coverage"]),
                occupied=bool(data["occupied"]),
                occupied_s=float(data.get("occupied_s") or 0.0),
                longest_dwell_s=float(data.get("longest_dwell_s") or 0.0),
                wall=parse_wall(str(data["ts"])).timestamp(),
                t=float(data["t"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidMessage):
            raise
        raise InvalidMessage(f"bad field: {type(exc).__name__}: {exc}") from exc
    raise InvalidMessage(f"topic {topic!r} is neither events nor a zone state")
