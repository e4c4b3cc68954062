"""Which retained MQTT topics the device has published, and which no zone needs any more.

Zone states (``{base}/{camera}/{zone}/state``) and Home Assistant discovery configs are
retained on the broker, so a removed zone would live on there: Home Assistant would keep
showing it, frozen at its last value. Every retained topic published is recorded in the
store (``retained_topics``, through the writer); once the current zones are known
(``set_zones``, at start and after each reload), the recorded topics that belong to no
current zone are cleared with an empty retained message, on every new session too, and
forgotten once the broker acknowledged that. The record survives restarts, so a zone
removed while the daemon was stopped is cleared at the next start.

Thread-safe: ``set_zones`` comes from the pipeline's thread, everything else from the
publisher's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence

from edge_app.sinks.store import RetainedChange
from edge_app.sinks.topics import Topics, discovery_messages

Record = Callable[[Sequence[RetainedChange]], None]


class RetainedTopics:
    """The device's retained topics. ``known`` are those recorded in the store; ``record``
    stores changes (the writer's ``retained``); ``discovery_prefix`` is None without Home
    Assistant discovery."""

    def __init__(
        self, topics: Topics, discovery_prefix: str | None, known: set[str], record: Record
    ) -> None:
        self.topics = topics
        self.discovery_prefix = discovery_prefix
        self._known = set(known)
        self._record = record
        self._lock = threading.Lock()
        self._zones: frozenset[tuple[str, str]] | None = None  # None: not told yet
        self._version = 0
        self._swept_version = -1
        self._clearing: dict[int, str] = {}  # message id -> topic, this session

    def zone_topics(self, camera: str, zone: str) -> list[str]:
        """The retained topics of one zone: its state, and its discovery configs."""
        topics = [self.topics.state(camera, zone)]
        if self.discovery_prefix is not None:
            messages = discovery_messages(self.topics, self.discovery_prefix, camera, zone)
            topics += [topic for topic, _ in messages]
        return topics

    # --- any thread --------------------------------------------------------------------

    def set_zones(self, zones: Mapping[str, Sequence[str]]) -> None:
        """The zone ids of each camera from now on; topics of any other zone are stale."""
        keys = frozenset((camera, zone) for camera, ids in zones.items() for zone in ids)
        with self._lock:
            self._zones = keys
            self._version += 1

    def zones(self) -> frozenset[tuple[str, str]] | None:
        with self._lock:
            return self._zones

    # --- the publisher's thread --------------------------------------------------------

    def published(self, topics: Iterable[str]) -> None:
        """These retained topics were just published: record the new ones."""
        new = [topic for topic in topics if topic not in self._known]
        if new:
            self._known.update(new)
            self._record([(True, topic) for topic in new])

    def new_session(self) -> None:
        """A new broker session: it may not have seen a clear yet, so sweep again."""
        self._clearing.clear()
        self._swept_version = -1

    def stale(self) -> list[str]:
        """The recorded topics of zones that no longer exist, once per change of zones (or
        session), leaving out those being cleared; empty until the zones are known."""
        with self._lock:
            zones, version = self._zones, self._version
        if zones is None or version == self._swept_version:
            return []
        self._swept_version = version
        wanted = {topic for camera, zone in zones for topic in self.zone_topics(camera, zone)}
        clearing = set(self._clearing.values())
        return sorted(self._known - wanted - clearing)

    def clearing(self, mid: int, topic: str) -> None:
        """An empty retained message went out on ``topic`` as message ``mid``."""
        self._clearing[mid] = topic

    def acked(self, mids: Iterable[int]) -> None:
        """The broker acknowledged these messages: forget the topics they cleared."""
        cleared = [self._clearing.pop(mid) for mid in mids if mid in self._clearing]
        if cleared:
            self._known.difference_update(cleared)
            self._record([(False, topic) for topic in cleared])
