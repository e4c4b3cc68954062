"""The mosquitto bridge a store's local broker needs to forward one device to the central
broker (``edge-app bridge-config``). Pure: a config in, mosquitto.conf text out.

The bridge forwards ``{base}/#`` out at QoS 1 with a persistent session (``cleansession
false``), so what the device publishes while the central broker is unreachable waits in
the local broker (which needs persistence and no queue limit, printed as a reminder) and
crosses when the link is back. TLS, credentials and the client id come from the config's
``bridge:`` section.
"""

from __future__ import annotations

from edge_app.config import AppConfig, BridgeConfig
from edge_app.core.errors import ConfigError
from edge_app.sinks.topics import Topics


def _value(text: str, field: str) -> str:
    # One mosquitto.conf value per line: a newline would start another option.
    if any(c in text for c in "\r\n") or not text.strip():
        raise ConfigError("(config)", field, "is empty or spans lines", "give a one-line value")
    return text


def render_bridge(config: AppConfig, config_name: str = "(config)") -> str:
    """The ``connection`` section (and a reminder of the local broker's settings)."""
    bridge: BridgeConfig | None = config.bridge
    if bridge is None:
        raise ConfigError(
            config_name,
            "bridge",
            "has no bridge section (the central broker to forward to)",
            "add bridge: {host: central.example.com, port: 8883, tls: {ca_file: ...}}",
        )
    topics = Topics.create(config.mqtt.base_topic, config.device_id)
    name = f"edge-app-{config.device_id}"
    client_id = bridge.client_id or f"edge-app-bridge-{config.device_id}"
    lines = [
        f"# edge-app bridge: device {config.device_id} -> central broker "
        f"{bridge.host}:{bridge.port}",
        "# Made by `edge-app bridge-config`; put it in /etc/mosquitto/conf.d/ on the store's",
        "# broker. That broker must keep what waits for the bridge across restarts and",
        "# outages (docs/mqtt.md), in its own settings:",
        "#   persistence true",
        "#   autosave_interval 1",
        "#   max_queued_messages 0",
        f"connection {name}",
        f"address {_value(bridge.host, 'bridge.host')}:{bridge.port}",
        f"remote_clientid {_value(client_id, 'bridge.client_id')}",
        f"local_clientid {_value(client_id, 'bridge.client_id')}-local",
        "bridge_protocol_version mqttv311",
        "# A persistent session on both sides: nothing queued is dropped at a reconnect.",
        "cleansession false",
        "try_private true",
        f"keepalive_interval {bridge.keepalive_s}",
        f"restart_timeout {bridge.restart_min_s} {bridge.restart_max_s}",
        "notifications true",
        f"notification_topic {topics.base}/bridge",
        f"topic {topics.base}/# out 1",
    ]
    if bridge.username is not None:
        lines.append(f"remote_username {_value(bridge.username.resolve(), 'bridge.username')}")
    if bridge.password is not None:
        lines.append(f"remote_password {_value(bridge.password.resolve(), 'bridge.password')}")
    tls = bridge.tls
    if tls is not None:
        if tls.ca_file is not None:
            lines.append(f"bridge_cafile {tls.ca_file}")
        else:
            lines.append("bridge_capath /etc/ssl/certs")
        if tls.cert_file is not None:
            lines.append(f"bridge_certfile {tls.cert_file}")
            lines.append(f"bridge_keyfile {tls.key_file or tls.cert_file}")
        lines.append(f"bridge_insecure {'false' if tls.verify_hostname else 'true'}")
    return "\n".join(lines) + "\n"
