"""Events: what the analytics reports, stamped once and then the same everywhere.

The analytics is pure, so it emits a ``ZoneEvent`` (what happened, where, at which
source-clock time). An ``EventStamper`` owned by the pipeline gives it a unique id, the
device's next sequence number and the wall-clock time, producing an ``Event``. The same
JSON (``Event.to_dict``) goes to SQLite, to MQTT and to replay's ``events.jsonl``; the
schema is documented in ``docs/events.md``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

EventType = Literal[
    "zone.enter",
    "zone.exit",
    "zone.occupancy",
    "zone.dwell_exceeded",
    "zone.capacity_exceeded",
    "camera.online",
    "camera.offline",
]

ExitReason = Literal["left", "lost", "ended", "restart", "clock"]
"""Why a visit ended: walked out, track lost, the stream ended, the daemon restarted
after a crash that left it open, or the camera's clock jumped (see ``ZoneExit``)."""

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class ZoneEnter:
    """A tracked person's foot point entered the zone (after ``enter_after_s``)."""

    type: ClassVar[EventType] = "zone.enter"
    track_id: int


@dataclass(frozen=True, slots=True)
class ZoneExit:
    """A tracked person's visit ended; ``dwell_s`` is the stay.

    ``reason`` is ``left`` (walked out, after ``exit_after_s``), ``lost`` (the track was
    lost inside the zone for longer than the tracker keeps it), ``ended`` (the stream
    ended), ``restart`` (a crash left the visit open; the next start closed it at the
    camera's last known activity) or ``clock`` (the camera's timestamps jumped back, or
    forward by more than a minute: what happened in between is unknown).
    ``entered_t`` is source-clock seconds.
    """

    type: ClassVar[EventType] = "zone.exit"
    track_id: int
    dwell_s: float
    entered_t: float
    reason: ExitReason = "left"


@dataclass(frozen=True, slots=True)
class ZoneOccupancy:
    """The zone's count, coverage or debounced occupied state changed."""

    type: ClassVar[EventType] = "zone.occupancy"
    count: int
    coverage: float
    occupied: bool


@dataclass(frozen=True, slots=True)
class DwellExceeded:
    """A person has been inside the zone longer than its ``dwell_alert_s``."""

    type: ClassVar[EventType] = "zone.dwell_exceeded"
    track_id: int
    dwell_s: float
    limit_s: float


@dataclass(frozen=True, slots=True)
class CapacityExceeded:
    """More people are in the zone than its ``capacity``."""

    type: ClassVar[EventType] = "zone.capacity_exceeded"
    count: int
    capacity: int


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """A live camera stopped delivering frames, or came back."""

    online: bool
    reason: str = ""

    @property
    def type(self) -> EventType:
        return "camera.online" if self.online else "camera.offline"


Payload = ZoneEnter | ZoneExit | ZoneOccupancy | DwellExceeded | CapacityExceeded | CameraStatus


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    """An unstamped event as the analytics emits it; ``t`` is source-clock seconds.

    ``warming_up``: it comes from a frame whose mask was provisional (the segmenter is
    still warming up after a cold start), so it may be wrong.
    """

    camera: str
    zone: str | None
    t: float
    payload: Payload
    warming_up: bool = False

    @property
    def type(self) -> EventType:
        return self.payload.type


@dataclass(frozen=True, slots=True)
class Event:
    """A stamped event: unique ``id``, per-device ``seq`` (1, 2, ...), UTC ``wall`` time;
    ``warming_up`` as its ``ZoneEvent``'s (in the JSON only when true)."""

    id: str
    seq: int
    device: str
    wall: datetime
    camera: str
    zone: str | None
    t: float
    payload: Payload
    warming_up: bool = False

    @property
    def type(self) -> EventType:
        return self.payload.type

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape of an event (see docs/events.md)."""
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "seq": self.seq,
            "type": self.type,
            "device": self.device,
            "camera": self.camera,
            "zone": self.zone,
            "ts": format_wall(self.wall),
            "t": round(self.t, 3),
        }
        for key, value in asdict(self.payload).items():
            data[key] = round(value, 3) if isinstance(value, float) else value
        if self.warming_up:
            data["warming_up"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Rebuild an event from ``to_dict``'s shape (e.g. a row read back from SQLite)."""
        kind = data["type"]
        payload: Payload
        if kind == "zone.enter":
            payload = ZoneEnter(int(data["track_id"]))
        elif kind == "zone.exit":
            payload = ZoneExit(
                int(data["track_id"]),
                float(data["dwell_s"]),
                float(data["entered_t"]),
                data.get("reason", "left"),
            )
        elif kind == "zone.occupancy":
            payload = ZoneOccupancy(
                int(data["count"]), float(data["coverage"]), bool(data["occupied"])
            )
        elif kind == "zone.dwell_exceeded":
            payload = DwellExceeded(
                int(data["track_id"]), float(data["dwell_s"]), float(data["limit_s"])
            )
        elif kind == "zone.capacity_exceeded":
            payload = CapacityExceeded(int(data["count"]), int(data["capacity"]))
        elif kind in ("camera.online", "camera.offline"):
            payload = CameraStatus(kind == "camera.online", str(data.get("reason", "")))
        else:
            raise ValueError(f"unknown event type {kind!r}")
        return cls(
            id=str(data["id"]),
            seq=int(data["seq"]),
            device=str(data["device"]),
            wall=parse_wall(str(data["ts"])),
            camera=str(data["camera"]),
            zone=data.get("zone"),
            t=float(data["t"]),
            payload=payload,
            warming_up=bool(data.get("warming_up", False)),
        )


def format_wall(wall: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``: ``2026-11-23T19:32:10.123Z``."""
    return wall.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_wall(text: str) -> datetime:
    """Inverse of ``format_wall``."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class EventStamper:
    """Gives events their id and the device's next sequence number. Thread-safe.

    ``next_seq`` is where numbering resumes: 1 for a new device, the store's high-water
    mark + 1 after a restart (kept even when retention deleted the events), so sequence
    numbers never repeat on one device.
    """

    def __init__(self, device: str, next_seq: int = 1) -> None:
        if next_seq < 1:
            raise ValueError(f"next_seq must be >= 1, got {next_seq}")
        self.device = device
        self._next = next_seq
        self._lock = threading.Lock()

    def stamp(self, event: ZoneEvent, wall: datetime) -> Event:
        with self._lock:
            seq = self._next
            self._next += 1
        return Event(
            id=uuid.uuid4().hex,
            seq=seq,
            device=self.device,
            wall=wall,
            camera=event.camera,
            zone=event.zone,
            t=event.t,
            payload=event.payload,
            warming_up=event.warming_up,
        )
