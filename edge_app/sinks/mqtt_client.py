"""Building paho clients for the publisher: credentials, TLS, and clear failure messages.

Secrets are resolved once at start (a missing password file is a start-up error) and kept
only inside the paho client; no message here ever contains one.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_app.config import MqttConfig, TlsConfig
from edge_app.core.errors import ConfigError
from edge_app.sinks.topics import OFFLINE, Topics


@dataclass(frozen=True, slots=True)
class Credentials:
    """A resolved username and password (the password is hidden from ``repr``)."""

    username: str
    password: str | None = field(default=None, repr=False)


def resolve_credentials(config: MqttConfig) -> Credentials | None:
    """The configured credentials, read now; ``ConfigError`` when a secret is unreadable."""
    if config.username is None:
        if config.password is not None:
            raise ConfigError(
                "config", "mqtt.password", "is set without mqtt.username", "add the username"
            )
        return None
    password = config.password.resolve() if config.password is not None else None
    return Credentials(config.username.resolve(), password)


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """A client TLS context: the CA file (or the system's CAs), an optional client
    certificate, certificate verification always, hostname verification by default."""
    try:
        context = ssl.create_default_context(
            cafile=str(tls.ca_file) if tls.ca_file is not None else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            str(tls.ca_file),
            "mqtt.tls.ca_file",
            f"cannot load the CA certificates: {exc}",
            "give a readable PEM file with the CA that signed the broker's certificate",
        ) from exc
    if tls.cert_file is not None:
        try:
            context.load_cert_chain(
                str(tls.cert_file), str(tls.key_file) if tls.key_file is not None else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                str(tls.cert_file),
                "mqtt.tls.cert_file",
                f"cannot load the client certificate or its key: {exc}",
                "give readable PEM files; the key must match the certificate",
            ) from exc
    context.check_hostname = tls.verify_hostname
    return context


def new_client(
    config: MqttConfig,
    client_id: str,
    topics: Topics,
    credentials: Credentials | None,
    context: ssl.SSLContext | None,
    inflight_max: int,
) -> mqtt.Client:
    """A fresh, unconnected client with the Last Will ``offline`` on the availability topic.

    One client per connection attempt: paho's own resend queue is never used, so what is
    resent after a reconnect is decided by the outbox alone.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        protocol=mqtt.MQTTv311,
        reconnect_on_failure=False,
    )
    client.connect_timeout = config.connect_timeout_s
    client.max_inflight_messages_set(inflight_max)
    if credentials is not None:
        client.username_pw_set(credentials.username, credentials.password)
    if context is not None:
        client.tls_set_context(context)
        # paho mirrors this onto the context's check_hostname (so it must follow the
        # context's own setting) and then leaves hostname checking to the context.
        client.tls_insecure_set(not context.check_hostname)
    client.will_set(topics.availability, OFFLINE, qos=1, retain=True)
    return client


def describe_connect_error(exc: BaseException, where: str) -> str:
    """One line saying why a connection to ``where`` (``host:port``) failed and what to do."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or str(exc)
        if "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
            fix = "connect by the name in the broker's certificate, or set tls.verify_hostname"
        else:
            fix = "check mqtt.tls.ca_file: it must hold the CA that signed the broker's certificate"
        return (
            f"TLS certificate of MQTT broker {where} not accepted "
            f"(certificate verify failed: {reason}); {fix}"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS handshake with MQTT broker {where} failed: {exc.reason or exc} "
            "(check that the port speaks TLS and mqtt.tls matches the broker's settings)"
        )
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"MQTT broker {where} did not answer within the connect timeout"
    if isinstance(exc, ConnectionRefusedError):
        return f"MQTT broker {where} unreachable: connection refused (is the broker running?)"
    if isinstance(exc, socket.gaierror):
        return f"MQTT broker {where}: cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, OSError):
        return f"MQTT broker {where} unreachable: {exc.strerror or exc}"
    return f"MQTT connection to {where} failed: {type(exc).__name__}: {exc}"


def describe_refusal(reason: str, where: str) -> str:
    """One line for a broker that answered CONNACK with a failure ``reason``."""
    lower = reason.lower()
    if "user name or password" in lower or "not authorized" in lower or "bad auth" in lower:
        fix = "check mqtt.username and mqtt.password against the broker's password file/ACL"
    elif "identifier" in lower:
        fix = "set mqtt.client_id to an id the broker accepts"
    else:
        fix = "see the broker's log"
    return f"MQTT broker {where} refused the connection: {reason} ({fix})"


def describe_early_close(where: str, tls: TlsConfig | None) -> str:
    """One line for a broker that closed the connection before answering CONNACK."""
    if tls is not None and tls.cert_file is None:
        hint = "a broker that requires client certificates does this: set mqtt.tls.cert_file"
    elif tls is None:
        hint = "is it a TLS port? then set mqtt.tls; otherwise see the broker's log"
    else:
        hint = "see the broker's log: it may not accept this client certificate or client id"
    return f"MQTT broker {where} closed the connection before accepting it ({hint})"
