"""The collector's configuration (``central.yaml``): validated once, immutable afterwards."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from edge_app.config import (
    SLUG_HELP,
    SLUG_PATTERN,
    MetricsConfig,
    SecretRef,
    StrictModel,
    TlsConfig,
    read_yaml,
    validation_to_config_error,
)
from edge_app.core.errors import ConfigError


class DatabaseConfig(StrictModel):
    """The central PostgreSQL. ``url`` without the password; ``password`` as a secret."""

    url: str = Field(
        "postgresql://edge@127.0.0.1:5432/edge_fleet",
        description="postgresql://USER@HOST:PORT/DATABASE (SQLAlchemy URL; driver psycopg)",
    )
    password: SecretRef | None = None
    connect_timeout_s: float = Field(5.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _postgresql(cls, value: str) -> str:
        if not value.startswith(("postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with postgresql:// (the central database is PostgreSQL)")
        return value


class CollectorMqttConfig(StrictModel):
    """The central broker and what to subscribe to there."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    client_id: str | None = Field(
        None, description="default edge-app-collect-{collector_id}; must be unique and stable"
    )
    username: SecretRef | None = None
    password: SecretRef | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    device_topic: str = Field(
        "edge-app/{device_id}", description="the devices' mqtt.base_topic, with {device_id}"
    )
    share_group: str = Field(
        "edge-app-collectors",
        pattern=r"^[A-Za-z0-9_-]+$",
        description="collectors in one group share the messages ($share/GROUP/...)",
    )
    fleet_topic: str = Field(
        "edge-app-fleet", min_length=1, description="where collectors publish stats and alerts"
    )
    receive_maximum: int = Field(
        1000, ge=1, le=65535, description="messages the broker may send before our acks"
    )
    session_expiry_s: int = Field(
        7 * 86400,
        ge=0,
        description="how long the broker keeps this collector's session (and its share of "
        "messages) while it is down",
    )
    reconnect_min_s: float = Field(0.5, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)

    @field_validator("device_topic")
    @classmethod
    def _has_device(cls, value: str) -> str:
        if value.count("{device_id}") != 1 or any(c in value for c in "+#"):
            raise ValueError("must contain {device_id} once and no + or #")
        parts = value.split("/")
        if "{device_id}" not in parts:
            raise ValueError("{device_id} must be a whole topic level")
        return value

    @field_validator("fleet_topic")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
            raise ValueError("must not contain + or # nor start or end with /")
        return value

    @model_validator(mode="after")
    def _checks(self) -> CollectorMqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        if self.password is not None and self.username is None:
            raise ValueError("password is set without username")
        return self


class IngestConfig(StrictModel):
    """How the collector batches commits and derives samples."""

    batch_max: int = Field(1000, ge=1, le=100_000, description="messages per transaction")
    batch_wait_s: float = Field(
        0.05, ge=0, le=10, description="longest wait to fill a batch once a message is in"
    )
    sample_interval_s: float = Field(
        60.0, gt=0, description="derived occupancy sample length (the devices' store setting)"
    )
    gap_grace_s: float = Field(
        300.0,
        gt=0,
        description="a missing seq is reported lost after this long (late or out-of-order "
        "messages fill it before)",
    )
    retry_min_s: float = Field(0.5, gt=0, description="first retry after a database failure")
    retry_max_s: float = Field(30.0, gt=0, description="longest retry delay")

    @model_validator(mode="after")
    def _order(self) -> IngestConfig:
        if self.retry_min_s > self.retry_max_s:
            raise ValueError("retry_min_s must not exceed retry_max_s")
        return self


class CollectorDaemonConfig(StrictModel):
    status_interval_s: float = Field(5.0, gt=0, le=300, description="health refresh period")
    log_stats_interval_s: float = Field(300.0, ge=0, description="one health line this often")
    metrics: MetricsConfig = MetricsConfig(port=9465)


class CollectorConfig(StrictModel):
    collector_id: str = Field(
        "collector-1", pattern=SLUG_PATTERN, description="collector id; " + SLUG_HELP
    )
    database: DatabaseConfig = DatabaseConfig()
    mqtt: CollectorMqttConfig = CollectorMqttConfig()
    ingest: IngestConfig = IngestConfig()
    daemon: CollectorDaemonConfig = CollectorDaemonConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def _absolute(path: Path | None, base: Path) -> Path | None:
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def parse_collector_config(data: Any, path: Path) -> CollectorConfig:
    """Validate loaded YAML; ``path`` names the file in errors; relative TLS paths are
    relative to its folder."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), None, "top level must be a mapping", "see docs/fleet.md")
    try:
        config = CollectorConfig.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(path, exc) from exc
    tls = config.mqtt.tls
    if tls is not None:
        base = path.resolve().parent
        tls = tls.model_copy(
            update={
                "ca_file": _absolute(tls.ca_file, base),
                "cert_file": _absolute(tls.cert_file, base),
                "key_file": _absolute(tls.key_file, base),
            }
        )
        config = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"tls": tls})})
    return config


def load_collector_config(path: Path) -> CollectorConfig:
    """Load and validate a collector config file."""
    return parse_collector_config(read_yaml(path), path)
