"""What the daemon needs before it goes on the network: the MQTT credentials and TLS
material (loaded with Python's ssl module, as the publisher does), and the metrics
endpoint's address and package. Nothing connects or listens here."""

from __future__ import annotations

import importlib.util
import socket

from edge_app.config import TlsConfig
from edge_app.config.base import MQTT_STRING_BYTES
from edge_app.core.errors import ConfigError
from edge_app.preflight.base import LoadedConfig, file_problems, secret_problems

_PEM_FIX = "give a readable PEM file"


def _tls_problems(loaded: LoadedConfig, field: str, tls: TlsConfig) -> list[ConfigError]:
    problems = [
        *file_problems(loaded, f"{field}.ca_file", tls.ca_file, "CA file", _PEM_FIX),
        *file_problems(loaded, f"{field}.cert_file", tls.cert_file, "client certificate", _PEM_FIX),
        *file_problems(loaded, f"{field}.key_file", tls.key_file, "private key", _PEM_FIX),
    ]
    if problems:
        return problems
    for key_field, path in (
        (f"{field}.key_file", tls.key_file),
        (f"{field}.cert_file", tls.cert_file),
    ):
        # ssl would prompt on the terminal for the passphrase; a service has none.
        if path is not None and b"ENCRYPTED" in path.read_bytes():
            return [
                loaded.problem(
                    key_field,
                    f"the private key in {path} is encrypted with a passphrase, which the "
                    "daemon cannot type",
                    f"store it unencrypted, readable by the service only (openssl pkey -in "
                    f"{path} -out KEY.pem)",
                )
            ]
    from edge_app.sinks.mqtt_client import tls_context

    try:
        tls_context(tls)  # the publisher's own: CA bundle, certificate and key load
    except ConfigError as exc:
        return [loaded.problem(exc.field or field, f"{exc.file}: {exc.problem}", exc.fix)]
    return []


def check_mqtt(loaded: LoadedConfig) -> list[ConfigError]:
    """Credentials resolve and TLS material loads, when MQTT is enabled."""
    mqtt = loaded.config.mqtt
    if not mqtt.enabled:
        return []
    problems = [
        *secret_problems(loaded, "mqtt.username", mqtt.username, MQTT_STRING_BYTES),
        *secret_problems(loaded, "mqtt.password", mqtt.password, MQTT_STRING_BYTES),
    ]
    if mqtt.tls is not None:
        problems += _tls_problems(loaded, "mqtt.tls", mqtt.tls)
    return problems


def check_metrics(loaded: LoadedConfig) -> list[ConfigError]:
    """The Prometheus endpoint's package and listen address, when it is enabled (whether
    the port is free is known only when the daemon binds it)."""
    metrics = loaded.config.daemon.metrics
    if not metrics.enabled:
        return []
    problems = []
    if importlib.util.find_spec("prometheus_client") is None:
        problems.append(
            loaded.problem(
                "daemon.metrics.enabled",
                "the metrics endpoint needs prometheus-client, which is not installed",
                "pip install 'edge-app[metrics]', or set enabled: false",
            )
        )
    try:
        socket.getaddrinfo(
            metrics.host, metrics.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        problems.append(
            loaded.problem(
                "daemon.metrics.host",
                f"{metrics.host!r} cannot be resolved: {reason}",
                "give an address of this machine: 127.0.0.1, or 0.0.0.0 for every one",
            )
        )
    return problems
