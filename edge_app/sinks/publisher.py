"""MQTT publishing from the outbox: QoS 1, marked published only on PUBACK, in order.

The publisher's thread owns the connection life cycle and all bookkeeping; paho's network
thread (one per session, see ``mqtt_session``) only moves bytes and reports. The thread
connects (backoff with jitter), announces ``online``, publishes the retained zone states,
then streams the outbox in sequence order with at most ``inflight_max`` unacknowledged
events. A lost connection ends the session and its queue: the next session resends from
the oldest unacknowledged event (at-least-once; subscribers dedupe by ``id``). Memory is
bounded by the window (``sinks.outbox``), one read chunk and the acks waiting to be
committed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime

from edge_app.config import MqttConfig
from edge_app.core.backoff import Backoff
from edge_app.core.domain import ZoneState
from edge_app.core.errors import StoreError
from edge_app.sinks.base import PipelineStats
from edge_app.sinks.mqtt_client import (
    describe_connect_error,
    describe_early_close,
    describe_refusal,
    new_client,
    resolve_credentials,
    tls_context,
)
from edge_app.sinks.mqtt_session import Session
from edge_app.sinks.outbox import OutboxWindow
from edge_app.sinks.retained import RetainedTopics
from edge_app.sinks.states import StateBoard
from edge_app.sinks.store import EventStore
from edge_app.sinks.topics import (
    OFFLINE,
    ONLINE,
    Topics,
    discovery_messages,
    dumps,
    state_payload,
    stats_payload,
    utc_now,
)
from edge_app.sinks.writer import StoreWriter

log = logging.getLogger(__name__)

_WAIT_S = 0.05  # longest sleep of the thread; an ack or a commit wakes it at once
_OFFLINE_WAIT_S = 2.0  # at stop, wait this long for the broker to take "offline"
_SAME_FAILURE_LOG_S = 60.0  # repeat an unchanged failure at WARNING this often
# paho's in-flight window is this much larger than mqtt.inflight_max (the events alone):
# room for the retained zone states, availability and discovery messages sent meanwhile.
_INFLIGHT_BEYOND_EVENTS = 100


class OutboxPublisher:
    """Publishes the store's outbox and the zone states to one MQTT broker.

    ``wake`` is called after events are committed, ``offer_states`` with each frame's
    states (any thread, non-blocking); ``stop`` publishes ``offline`` and disconnects.
    ``connected`` is set while a session is up; ``published`` counts events acknowledged
    since start, ``reconnects`` the sessions after the first, ``restarts`` how often the
    thread started over after an unexpected error (backoff in between, never silently).
    """

    def __init__(
        self,
        config: MqttConfig,
        device: str,
        store: EventStore,
        writer: StoreWriter,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.device = device
        self.topics = Topics.create(config.base_topic, device)
        self._store = store
        self._writer = writer
        self._credentials = resolve_credentials(config)
        self._tls = tls_context(config.tls) if config.tls is not None else None
        self._client_id = config.client_id or f"edge-app-{device}"
        self._where = f"{config.host}:{config.port}"
        self._backoff = Backoff(config.reconnect_min_s, config.reconnect_max_s)
        self._rng = rng or random.Random()
        self._started = time.monotonic()
        self._states = StateBoard(config.state_min_interval_s, config.stats_interval_s)
        prefix = config.ha_discovery_prefix if config.ha_discovery else None
        self._retained = RetainedTopics(
            self.topics, prefix, store.retained_topics(), writer.retained
        )
        self._outbox = OutboxWindow(store, device, writer, self.topics.events, config.inflight_max)
        # Shared with other threads.
        self._lock = threading.Lock()
        self._pipeline_stats: PipelineStats | None = None
        # One event for the publisher's life: paho's callbacks (every session's), wake() and
        # stop() set it, so a wake-up that races a reconnect is never lost.
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.published = 0
        self.reconnects = 0
        self.restarts = 0  # the thread started over after an unexpected error
        # Owned by the publisher thread.
        self._session: Session | None = None
        self._ready = False
        self._sessions = 0
        self._failures = 0  # failed attempts since the last session came up
        self._next_attempt = 0.0
        self._last_failure: tuple[str, float] = ("", 0.0)
        self._last_crash: tuple[str, float] = ("", 0.0)
        self._restart_attempt = 0  # restarts since the last session came up
        self._discovered: set[tuple[str, str]] = set()
        self._next_stats = 0.0
        self._thread = threading.Thread(target=self._run, name="mqtt-outbox", daemon=True)

    @property
    def peak_inflight(self) -> int:
        """Most events ever awaiting PUBACK at once."""
        return self._outbox.peak_inflight

    # --- any thread -----------------------------------------------------------------

    def start(self) -> None:
        tls = "on" if self._tls else "off"
        log.info("MQTT: publishing to %s under %s (TLS %s)", self._where, self.topics.base, tls)
        self._thread.start()

    def wake(self) -> None:
        """New events were committed: read the outbox again."""
        self._outbox.wake()
        self._wakeup.set()

    def offer_states(self, states: Sequence[ZoneState], wall: datetime) -> None:
        """Keep the newest state of each zone; the thread publishes what changed."""
        self._states.offer(states, wall)

    def report_stats(self, stats: PipelineStats) -> None:
        with self._lock:
            self._pipeline_stats = stats

    def set_zones(self, zones: Mapping[str, Sequence[str]]) -> None:
        """The zone ids of each camera from now on (at start, after a reload): the retained
        topics of every other zone are cleared on the broker (see ``sinks.retained``)."""
        self._retained.set_zones(zones)
        current = self._retained.zones()
        if current is not None:
            self._states.keep_only(current)
        self._wakeup.set()

    def stop(self, timeout_s: float) -> bool:
        """Publish ``offline``, disconnect cleanly, end the thread (within ``timeout_s``)."""
        self._stop.set()
        self._wakeup.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # --- the publisher thread --------------------------------------------------------

    def _run(self) -> None:
        # An unexpected error (a bug, or paho refusing something) must not end publishing
        # quietly: the session is dropped and the thread starts over after a backoff,
        # counted in ``restarts``; the events wait in the outbox meanwhile.
        while not self._stop.is_set():
            try:
                self._publish_until_stopped()
            except Exception as exc:
                self._recover_from(exc)
        try:
            self._shutdown()
        except Exception:
            log.exception("MQTT publisher: the clean disconnect failed")

    def _publish_until_stopped(self) -> None:
        while not self._stop.is_set():
            session = self._session
            if session is None:
                delay = self._next_attempt - time.monotonic()
                if delay > 0:
                    self._stop.wait(min(delay, 0.25))
                else:
                    self._connect()
                continue
            try:
                self._service(session)
            except StoreError as exc:
                log.error("%s; MQTT publishing pauses for 1 s", exc)
                self._stop.wait(1.0)

    def _recover_from(self, exc: Exception) -> None:
        self.restarts += 1
        delay = self._backoff.delay(self._restart_attempt, self._rng.random())
        self._restart_attempt += 1
        reason = f"MQTT publisher failed: {type(exc).__name__}: {exc}"
        previous, when = self._last_crash
        now = time.monotonic()
        if reason == previous and now - when < _SAME_FAILURE_LOG_S:
            log.debug("%s; restarting it in %.2f s (restart %d)", reason, delay, self.restarts)
        else:
            self._last_crash = (reason, now)
            log.error(
                "%s; restarting it in %.2f s (restart %d; the events wait in the outbox)",
                reason,
                delay,
                self.restarts,
                exc_info=exc,
            )
        session, self._session = self._session, None
        self._ready = False
        self.connected.clear()
        if session is not None:
            try:
                session.close()
            except Exception:
                log.debug("MQTT publisher: closing the failed session failed", exc_info=True)
        self._outbox.forget()
        self._next_attempt = 0.0
        self._stop.wait(delay)

    def _connect(self) -> None:
        client = new_client(
            self.config,
            self._client_id,
            self.topics,
            self._credentials,
            self._tls,
            inflight_max=self.config.inflight_max + _INFLIGHT_BEYOND_EVENTS,
        )
        session = Session(client, self._wakeup)
        try:
            session.open(self.config.host, self.config.port, self.config.keepalive_s)
        except OSError as exc:  # includes ssl.SSLError and timeouts
            self._retry_later(describe_connect_error(exc, self._where))
            return
        self._session = session

    def _service(self, session: Session) -> None:
        self._wakeup.wait(_WAIT_S)
        self._wakeup.clear()
        self._collect_acks(session)
        if not self._ready:
            if session.connack is not None and session.connack.is_failure:
                self._drop(describe_refusal(str(session.connack), self._where))
            elif session.connack is not None:
                self._begin(session)
            elif session.lost is not None:
                self._drop(describe_early_close(self._where, self.config.tls))
            elif time.monotonic() - session.started > self.config.connect_timeout_s:
                self._drop(f"MQTT broker {self._where} accepted TCP but sent no CONNACK")
            return
        if session.lost is not None:
            self._drop(f"connection to MQTT broker {self._where} lost")
            return
        self._clear_removed_zones(session)
        self._publish_states(session)
        self._outbox.fill(session)
        self._outbox.flush_acks(force=False)
        self._outbox.rescan_if_idle()
        self._maybe_stats(session)

    def _begin(self, session: Session) -> None:
        """A session is up: announce it, show the states, restart the outbox."""
        self._ready = True
        self._sessions += 1
        self.reconnects = self._sessions - 1
        self._failures = 0
        self._restart_attempt = 0
        self._last_failure = ("", 0.0)
        log.info("MQTT: connected to %s as %s", self._where, self._client_id)
        session.publish(self.topics.availability, ONLINE, qos=1, retain=True)
        # A new subscriber or a restarted dashboard must see the truth at once, and a
        # broker that lost its retained messages gets the discovery configs again.
        self._states.reset()
        self._discovered.clear()
        self._retained.new_session()
        # The outbox restarts at the oldest unacknowledged event.
        self._outbox.restart()
        self._next_stats = time.monotonic()
        self.connected.set()

    def _collect_acks(self, session: Session) -> list[int]:
        """Turn the session's acknowledged ids into acks of events; returns all the ids."""
        now = time.time()
        acked = session.take_acked()
        self._retained.acked(acked)
        self.published += self._outbox.acked(acked, now)
        return acked

    def _retry_later(self, reason: str) -> None:
        delay = self._backoff.delay(self._failures, self._rng.random())
        self._failures += 1
        now = time.monotonic()
        self._next_attempt = now + delay
        previous, when = self._last_failure
        level = logging.WARNING
        if reason == previous and now - when < _SAME_FAILURE_LOG_S:
            level = logging.DEBUG
        else:
            self._last_failure = (reason, now)
        if log.isEnabledFor(level):
            try:
                kept = f"{self._store.backlog(self.device)} events kept in the outbox"
            except StoreError:
                kept = "events kept in the outbox"
            log.log(level, "%s; retrying in %.2f s (%s)", reason, delay, kept)

    def _drop(self, reason: str) -> None:
        """End the session after a failure, keep its acks, schedule a reconnect."""
        session, self._session = self._session, None
        self._ready = False
        self.connected.clear()
        if session is not None:
            session.close()
            self._collect_acks(session)
        self._outbox.forget()
        self._outbox.flush_acks(force=True)
        self._retry_later(reason)

    def _clear_removed_zones(self, session: Session) -> None:
        """Empty retained messages on the topics of zones that no longer exist."""
        stale = self._retained.stale()
        for topic in stale:
            mid = session.publish(topic, "", qos=1, retain=True)
            if mid is None:
                return  # the connection is going; the next session sweeps again
            self._retained.clearing(mid, topic)
        if stale:
            log.info("MQTT: clearing %d retained topic(s) of removed zones", len(stale))

    def _publish_states(self, session: Session) -> None:
        for due in self._states.due(time.monotonic()):
            key = (due.camera, due.zone)
            published = []
            if self.config.ha_discovery and key not in self._discovered:
                prefix = self.config.ha_discovery_prefix
                for topic, config in discovery_messages(self.topics, prefix, *key):
                    session.publish(topic, dumps(config), qos=1, retain=True)
                    published.append(topic)
                self._discovered.add(key)
            payload = dumps(state_payload(due.state, due.wall, due.since_wall))
            session.publish(self.topics.state(*key), payload, qos=1, retain=True)
            published.append(self.topics.state(*key))
            self._retained.published(published)

    def _maybe_stats(self, session: Session) -> None:
        now = time.monotonic()
        if now < self._next_stats:
            return
        self._next_stats = now + self.config.stats_interval_s
        counters = self._writer.counters()
        with self._lock:
            pipeline = self._pipeline_stats
        sink: dict[str, int | float | bool] = {
            "uptime_s": round(now - self._started, 1),
            "outbox_backlog": self._store.backlog(self.device),
            "events_published": self.published,
            "events_inflight": self._outbox.inflight,
            "mqtt_reconnects": self.reconnects,
            "sink_frames_dropped": counters.states_dropped,
            "sink_events_dropped": counters.events_lost,
            "store_write_errors": counters.write_errors,
            "mqtt_restarts": self.restarts,
        }
        stats = stats_payload(self.device, pipeline, sink, utc_now())
        session.publish(self.topics.stats, dumps(stats), qos=0)

    def _shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            if self._ready and session.lost is None:
                self._say_offline(session)
            session.close()
            self._collect_acks(session)
        self._outbox.flush_acks(force=True)
        self._ready = False
        self.connected.clear()
        log.info("MQTT: disconnected from %s (%d events published)", self._where, self.published)

    def _say_offline(self, session: Session) -> None:
        mid = session.publish(self.topics.availability, OFFLINE, qos=1, retain=True)
        deadline = time.monotonic() + _OFFLINE_WAIT_S
        while mid is not None and session.lost is None and time.monotonic() < deadline:
            self._wakeup.wait(_WAIT_S)
            self._wakeup.clear()
            if mid in self._collect_acks(session):
                return
        log.warning("MQTT: the broker did not confirm 'offline' before the stop")
