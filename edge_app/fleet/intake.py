"""The collector's MQTT side: an MQTT 5 shared subscription with manual acknowledgements.

paho's network thread receives and only queues; nothing is acknowledged until the
collector has committed the message (``ack``). The session is persistent (a fixed client
id, ``clean_start`` false, a session expiry), so what was delivered to a collector that
died is delivered to it again when it comes back, and what the broker queued for it
meanwhile too. Every (re)connect starts a new ``generation``: a message received on an
older connection is never acknowledged on a newer one (the broker resends it there, and
that copy is acknowledged).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import deque
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_app.fleet.config import CollectorMqttConfig
from edge_app.fleet.messages import DeviceTopics
from edge_app.sinks.mqtt_client import tls_context

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """One message as paho gave it, with what acknowledging it needs."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int


class Intake:
    """Subscribes, queues what arrives, acknowledges on request. Thread-safe."""

    def __init__(self, config: CollectorMqttConfig, collector_id: str) -> None:
        self.config = config
        self.topics = DeviceTopics.create(config.device_topic)
        self.client_id = config.client_id or f"edge-app-collect-{collector_id}"
        self.where = f"{config.host}:{config.port}"
        self.connected = threading.Event()
        self.reconnects = 0
        self._queue: deque[Received] = deque()
        self._cond = threading.Condition()
        self._generation = 0
        self._sessions = 0
        self._client = self._new_client()

    def _new_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        # paho doubles the delay per failure; floats are accepted although typed int.
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # type: ignore[arg-type]
        if cfg.username is not None:
            password = cfg.password.resolve() if cfg.password is not None else None
            client.username_pw_set(cfg.username.resolve(), password)
        if cfg.tls is not None:
            context: ssl.SSLContext = tls_context(cfg.tls)
            client.tls_set_context(context)
            client.tls_insecure_set(not context.check_hostname)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (paho retries until the broker answers)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        props.ReceiveMaximum = self.config.receive_maximum
        log.info(
            "MQTT: collecting %s from %s as %s",
            ", ".join(self.topics.subscriptions(self.config.share_group)),
            self.where,
            self.client_id,
        )
        self._client.connect_async(
            self.config.host,
            self.config.port,
            self.config.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()

    def close(self) -> None:
        """Disconnect cleanly and end paho's thread. The session stays on the broker."""
        self._client.disconnect()
        self._client.loop_stop()

    # --- the collector's side ---------------------------------------------------------

    def take(self, limit: int, first_wait_s: float, fill_wait_s: float) -> list[Received]:
        """Up to ``limit`` messages: waits ``first_wait_s`` for the first, then up to
        ``fill_wait_s`` for more."""
        batch: list[Received] = []
        with self._cond:
            if not self._queue:
                self._cond.wait(first_wait_s)
            if self._queue and fill_wait_s > 0 and len(self._queue) < limit:
                self._cond.wait_for(lambda: len(self._queue) >= limit, fill_wait_s)
            while self._queue and len(batch) < limit:
                batch.append(self._queue.popleft())
        return batch

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def ack(self, messages: list[Received]) -> int:
        """Acknowledge what was received on the current connection; how many were."""
        acked = 0
        generation = self._generation
        for msg in messages:
            if msg.qos > 0 and msg.generation == generation:
                self._client.ack(msg.mid, msg.qos)
                acked += 1
        return acked

    def publish(self, topic: str, payload: str, qos: int = 0) -> None:
        """Best effort (stats and alerts): dropped while disconnected."""
        if self.connected.is_set():
            self._client.publish(topic, payload, qos=qos)

    # --- paho's thread --------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the collector: %s", self.where, reason)
            return
        with self._cond:
            self._generation += 1
        self._sessions += 1
        if self._sessions > 1:
            self.reconnects += 1
        # Subscribing again is harmless when the broker kept the session.
        client.subscribe([(t, 1) for t in self.topics.subscriptions(self.config.share_group)])
        log.info(
            "MQTT: connected to %s (session %s)",
            self.where,
            "resumed" if flags.session_present else "new",
        )
        self.connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self.connected.is_set():
            log.warning("MQTT: lost the connection to %s (%s); reconnecting", self.where, reason)
        self.connected.clear()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._queue.append(
                Received(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._generation)
            )
            self._cond.notify()
