"""One MQTT connection: a fresh paho client and its network thread, nothing reused.

paho's thread reads and writes the socket and runs the callbacks, which only record what
happened (CONNACK, loss, acknowledged message ids) and wake the publisher's thread; the
publisher decides everything else. paho's own reconnect is off: a lost connection ends
the session and its queue with it, and the publisher resends from the outbox.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode


class Session:
    """Wraps a configured, unconnected paho client (see ``mqtt_client.new_client``).

    ``wakeup`` is set whenever something happened (CONNACK, loss, an acknowledgement). It
    belongs to the caller, so that one event serves every session of a publisher and a
    wake-up from another thread is never lost on the event of a session that ended.
    """

    def __init__(self, client: mqtt.Client, wakeup: threading.Event) -> None:
        self.client = client
        self.wakeup = wakeup
        self.started = time.monotonic()
        self.connack: ReasonCode | None = None  # set by paho's thread
        self.lost: str | None = None  # set by paho's thread
        self._acked: deque[int] = deque()  # appended by paho's thread
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish

    def open(self, host: str, port: int, keepalive_s: int) -> None:
        """Connect (TCP and TLS, blocking up to the connect timeout) and start paho's
        thread; the CONNACK arrives later in ``connack``. Raises ``OSError``."""
        self.client.connect(host, port, keepalive_s)
        self.client.loop_start()

    def publish(self, topic: str, payload: str, qos: int, retain: bool = False) -> int | None:
        """Queue a message; its ``mid``, or ``None`` when the connection is gone."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return None
        return info.mid

    def take_acked(self) -> list[int]:
        """The message ids the broker acknowledged since the last call, in order."""
        acked: list[int] = []
        while self._acked:
            acked.append(self._acked.popleft())
        return acked

    def close(self) -> None:
        """Disconnect (a clean DISCONNECT if still connected: no Last Will), end the
        thread, release the socket."""
        self.client.disconnect()
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.connack = reason
        self.wakeup.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.lost = str(reason)
        self.wakeup.set()

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        self._acked.append(mid)
        self.wakeup.set()
