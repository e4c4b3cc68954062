"""Sinks: the SQLite event store (durable first) and MQTT publishing from its outbox.

``create_sinks(store, mqtt, device_id)`` opens the store, closes visits a crash left open
(each with its ``zone.exit``, reason ``restart``, into the outbox), resumes the device's
sequence numbers and starts the writer and publisher threads. The
sinks see only the ``store`` and ``mqtt`` sections of the config and the device id.
"""

from __future__ import annotations

import logging

from edge_app.config import MqttConfig, StoreConfig
from edge_app.core.events import EventStamper
from edge_app.sinks.base import CameraStats, PipelineStats, Sink, SinkHealth, StatsSink
from edge_app.sinks.event_sink import EventSink
from edge_app.sinks.publisher import OutboxPublisher
from edge_app.sinks.retention import BYTES_PER_MB, RetentionPolicy
from edge_app.sinks.store import EventStore
from edge_app.sinks.writer import StoreWriter

__all__ = [
    "CameraStats",
    "EventSink",
    "PipelineStats",
    "Sink",
    "SinkHealth",
    "StatsSink",
    "create_sinks",
]

log = logging.getLogger(__name__)


def create_sinks(
    store: StoreConfig, mqtt: MqttConfig, device_id: str
) -> tuple[EventStamper, list[Sink]]:
    """Open the store and start the sinks; the stamper resumes past the highest seq ever
    stored for the device (a high-water mark that retention does not delete).

    Raises ``StoreError`` (read-only or full disk, not a database, newer schema) or
    ``ConfigError`` (an unreadable secret or TLS file); nothing is left running then.
    """
    event_store = EventStore.open(store.path, store.synchronous)
    try:
        event_store.recover(device_id)
        next_seq = event_store.max_seq(device_id) + 1
        writer = StoreWriter(
            event_store,
            device_id,
            sample_interval_s=store.sample_interval_s,
            max_queued_frames=store.queue_max_frames,
            retention=RetentionPolicy(
                max_age_s=store.retention_days * 86_400.0,
                max_bytes=int(store.max_size_mb * BYTES_PER_MB),
                interval_s=store.retention_check_s,
                keep_unpublished=mqtt.enabled,
            ),
        )
        publisher = None
        if mqtt.enabled:
            publisher = OutboxPublisher(mqtt, device_id, event_store, writer)
            writer.on_events = publisher.wake
        backlog = event_store.backlog(device_id)
    except BaseException:
        event_store.close()
        raise
    writer.start()
    if publisher is not None:
        publisher.start()
    log.info(
        "event store %s: next seq %d, %d event(s) waiting in the outbox%s",
        event_store.path,
        next_seq,
        backlog,
        "" if publisher else " (MQTT disabled)",
    )
    return EventStamper(device_id, next_seq), [EventSink(event_store, writer, publisher)]
