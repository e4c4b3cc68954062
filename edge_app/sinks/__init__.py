"""Sinks: the SQLite event store (durable first) and MQTT publishing from its outbox.

``create_sinks(config)`` opens the store, closes visits a crash left open, resumes the
device's sequence numbers and starts the writer and publisher threads.
"""

from __future__ import annotations

import logging

from edge_app.config import AppConfig
from edge_app.core.events import EventStamper
from edge_app.sinks.base import CameraStats, PipelineStats, Sink, StatsSink
from edge_app.sinks.event_sink import EventSink
from edge_app.sinks.publisher import OutboxPublisher
from edge_app.sinks.store import EventStore
from edge_app.sinks.writer import RetentionPolicy, StoreWriter

__all__ = [
    "CameraStats",
    "EventSink",
    "PipelineStats",
    "Sink",
    "StatsSink",
    "create_sinks",
]

log = logging.getLogger(__name__)


def create_sinks(config: AppConfig) -> tuple[EventStamper, list[Sink]]:
    """Open the store and start the sinks; the stamper resumes at the stored max seq + 1.

    Raises ``StoreError`` (read-only or full disk, not a database, newer schema) or
    ``ConfigError`` (an unreadable secret or TLS file); nothing is left running then.
    """
    store_cfg = config.store
    store = EventStore.open(store_cfg.path, store_cfg.synchronous)
    try:
        store.recover()
        next_seq = store.max_seq(config.device_id) + 1
        writer = StoreWriter(
            store,
            sample_interval_s=store_cfg.sample_interval_s,
            max_queued_frames=store_cfg.queue_max_frames,
            retention=RetentionPolicy(
                max_age_s=store_cfg.retention_days * 86_400.0,
                max_bytes=int(store_cfg.max_size_mb * 1_000_000),
                interval_s=store_cfg.retention_check_s,
                keep_unpublished=config.mqtt.enabled,
            ),
        )
        publisher = None
        if config.mqtt.enabled:
            publisher = OutboxPublisher(config.mqtt, config.device_id, store, writer)
            writer.on_events = publisher.wake
        backlog = store.backlog(config.device_id)
    except BaseException:
        store.close()
        raise
    writer.start()
    if publisher is not None:
        publisher.start()
    log.info(
        "event store %s: next seq %d, %d event(s) waiting in the outbox%s",
        store.path,
        next_seq,
        backlog,
        "" if publisher else " (MQTT disabled)",
    )
    return EventStamper(config.device_id, next_seq), [EventSink(store, writer, publisher)]
