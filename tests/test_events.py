"""Events: one JSON shape everywhere, unique ids, sequence numbers that resume."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone

import pytest

from edge_app.core.events import (
    CameraStatus,
    CapacityExceeded,
    DwellExceeded,
    Event,
    EventStamper,
    Payload,
    ZoneEnter,
    ZoneEvent,
    ZoneExit,
    ZoneOccupancy,
)

WALL = datetime(2026, 11, 23, 19, 32, 10, 123456, tzinfo=timezone.utc)

PAYLOADS: list[Payload] = [
    ZoneEnter(7),
    ZoneExit(7, 12.3456, 100.0, "left"),
    ZoneOccupancy(2, 0.1234, True),
    DwellExceeded(7, 61.0, 60.0),
    CapacityExceeded(4, 3),
    CameraStatus(False, "stream stalled"),
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_event_json_round_trip(payload: Payload) -> None:
    stamper = EventStamper("store-7")
    ev = stamper.stamp(ZoneEvent("entrance", "door", 12.5, payload), WALL)
    data = json.loads(json.dumps(ev.to_dict()))
    assert data["type"] == payload.type
    assert data["device"] == "store-7" and data["seq"] == 1
    assert data["ts"] == "2026-11-23T19:32:10.123Z"
    back = Event.from_dict(data)
    assert back.id == ev.id and back.type == ev.type and back.payload.type == payload.type
    assert back.to_dict() == data


def test_unknown_event_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        Event.from_dict({"type": "zone.teleport"})


def test_stamper_resumes_and_is_unique_across_threads() -> None:
    stamper = EventStamper("d", next_seq=41)
    seen: list[tuple[int, str]] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(500):
            ev = stamper.stamp(ZoneEvent("c", "z", 0.0, ZoneEnter(1)), WALL)
            with lock:
                seen.append((ev.seq, ev.id))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = sorted(s for s, _ in seen)
    assert seqs == list(range(41, 41 + 2000))
    assert len({i for _, i in seen}) == 2000
    with pytest.raises(ValueError):
        EventStamper("d", next_seq=0)


def test_warming_up_is_in_the_json_only_when_true() -> None:
    stamper = EventStamper("store-7")
    plain = stamper.stamp(ZoneEvent("cam", "door", 1.0, ZoneEnter(7)), WALL)
    warming = stamper.stamp(ZoneEvent("cam", "door", 1.0, ZoneEnter(7), warming_up=True), WALL)
    assert "warming_up" not in plain.to_dict()
    data = json.loads(json.dumps(warming.to_dict()))
    assert data["warming_up"] is True
    assert Event.from_dict(data).warming_up and not Event.from_dict(plain.to_dict()).warming_up
