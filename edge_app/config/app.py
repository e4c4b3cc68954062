"""The whole daemon config (``AppConfig``) and its analytics, store, MQTT and daemon parts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edge_app.config.base import (
    LONGEST_S,
    SLUG_HELP,
    SLUG_PATTERN,
    SecretRef,
    StrictModel,
    check_client_id,
    check_host,
    check_password_has_username,
    check_topic_prefix,
)
from edge_app.config.segmenter import (
    BackgroundSegmenterConfig,
    SegmenterConfig,
)
from edge_app.config.sources import (
    CameraConfig,
)
from edge_app.core.tuning import AnalyzerParams

# --- analytics -------------------------------------------------------------------------

_TUNING = AnalyzerParams()
"""The analytics' own defaults: each ``AnalyticsConfig`` default below is read from here."""


class AnalyticsConfig(StrictModel):
    analysis_max_side: int = Field(
        _TUNING.analysis_max_side,
        ge=32,
        le=2048,
        description="the mask is analysed at this long side (pixels)",
    )
    min_blob_area_frac: float = Field(
        _TUNING.min_blob_area_frac,
        ge=0,
        lt=0.5,
        description="smallest person blob, as a fraction of the frame",
    )
    enter_after_s: float = Field(
        1.0, ge=0, le=LONGEST_S, description="default debounce before occupied"
    )
    exit_after_s: float = Field(2.0, ge=0, le=LONGEST_S, description="default debounce before free")
    track_max_gap_s: float = Field(
        _TUNING.track_max_gap_s,
        ge=0,
        le=LONGEST_S,
        description="how long a track survives unseen (occlusions, merges)",
    )
    track_max_speed: float = Field(
        _TUNING.track_max_speed,
        gt=0,
        le=1000,
        description="fastest plausible movement, in frame heights per second",
    )
    person_size_learning: bool = Field(
        _TUNING.person_size_learning,
        description="estimate people per merged blob from the learned size of one person",
    )
    track_max_merge_s: float = Field(
        _TUNING.track_max_merge_s,
        ge=0,
        le=LONGEST_S,
        description="keep counting a tracked person merged into (or hidden behind) a "
        "neighbour's blob this long; 0 turns it off",
    )
    occupancy_event_interval_s: float = Field(
        _TUNING.occupancy_event_interval_s,
        ge=0,
        le=LONGEST_S,
        description="at most one zone.occupancy event per zone this often, "
        "except when the occupied state flips (always at once)",
    )


# --- sinks -----------------------------------------------------------------------------


class StoreConfig(StrictModel):
    path: Path = Path("var/edge-app.db")
    sample_interval_s: float = Field(
        60.0, gt=0, le=LONGEST_S, description="occupancy history resolution"
    )
    retention_days: float = Field(30.0, gt=0, le=36_500, description="at most 100 years")
    max_size_mb: float = Field(
        512.0,
        gt=0,
        le=1_000_000_000,
        description="data kept under this many MB (1 MB = 1,000,000 bytes; at most 1 PB)",
    )
    synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL", description="FULL: commits survive a power cut; NORMAL: only a crash"
    )
    queue_max_frames: int = Field(
        4096, ge=16, le=1_000_000, description="frames waiting for the writer before drops"
    )
    retention_check_s: float = Field(
        600.0, gt=0, le=LONGEST_S, description="how often retention runs"
    )


class TlsConfig(StrictModel):
    ca_file: Path | None = Field(None, description="CA bundle; None uses the system's")
    cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(None, description="its private key, if not in cert_file")
    verify_hostname: bool = True

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate)")
        return self


class MqttConfig(StrictModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    base_topic: str = Field("edge-app/{device_id}", min_length=1)
    client_id: str | None = None
    username: SecretRef | None = None
    password: SecretRef | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    inflight_max: int = Field(100, ge=1, le=65535)
    stats_interval_s: float = Field(30.0, gt=0, le=LONGEST_S)
    ha_discovery: bool = False
    ha_discovery_prefix: str = "homeassistant"
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    reconnect_min_s: float = Field(
        0.5, gt=0, le=LONGEST_S, description="first retry delay (then doubled)"
    )
    reconnect_max_s: float = Field(30.0, gt=0, le=LONGEST_S, description="longest retry delay")
    state_min_interval_s: float = Field(
        1.0,
        ge=0,
        le=LONGEST_S,
        description="coverage-only state changes are published at most this often",
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value)

    @field_validator("base_topic")
    @classmethod
    def _base_topic(cls, value: str) -> str:
        return check_topic_prefix(value, template=True)

    @field_validator("ha_discovery_prefix")
    @classmethod
    def _discovery_prefix(cls, value: str) -> str:
        return check_topic_prefix(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        return check_client_id(value)

    @field_validator("password")
    @classmethod
    def _password_needs_username(
        cls, value: SecretRef | None, info: ValidationInfo
    ) -> SecretRef | None:
        check_password_has_username(value, info, "mqtt.username")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class BridgeConfig(StrictModel):
    """The central broker that a store's local mosquitto forwards this device's topics to
    (``edge-app bridge-config`` prints that bridge; see docs/fleet.md). The daemon itself
    keeps publishing to ``mqtt`` (the local broker)."""

    host: str = Field(min_length=1, description="the central broker's host name")
    port: int = Field(8883, ge=1, le=65535)
    tls: TlsConfig | None = None
    username: SecretRef | None = None
    password: SecretRef | None = None
    client_id: str | None = Field(
        None, description="default edge-app-bridge-{device_id}; unique per store broker"
    )
    keepalive_s: int = Field(60, ge=5, le=3600)
    restart_min_s: int = Field(
        1, ge=1, le=LONGEST_S, description="first reconnect delay of the bridge"
    )
    restart_max_s: int = Field(
        30, ge=1, le=LONGEST_S, description="longest reconnect delay of the bridge"
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value)

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: str | None) -> str | None:
        return check_client_id(value)

    @field_validator("password")
    @classmethod
    def _password_needs_username(
        cls, value: SecretRef | None, info: ValidationInfo
    ) -> SecretRef | None:
        check_password_has_username(value, info, "bridge.username")
        return value

    @model_validator(mode="after")
    def _checks(self) -> BridgeConfig:
        if self.restart_min_s > self.restart_max_s:
            raise ValueError("restart_min_s must not exceed restart_max_s")
        return self


# --- daemon ----------------------------------------------------------------------------


class MetricsConfig(StrictModel):
    """An optional Prometheus endpoint (needs the ``metrics`` extra: prometheus-client)."""

    enabled: bool = False
    host: str = Field("127.0.0.1", description="address to listen on; 0.0.0.0 for every one")
    port: int = Field(9464, ge=1, le=65535)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host(value)


class DaemonConfig(StrictModel):
    """How ``edge-app run`` keeps live cameras and the pipeline healthy (see docs/operations.md)."""

    stall_timeout_s: float = Field(
        10.0, gt=0, le=600, description="a live camera silent this long is offline and reopened"
    )
    reconnect_min_s: float = Field(
        1.0, gt=0, le=LONGEST_S, description="first reconnect delay (then doubled)"
    )
    reconnect_max_s: float = Field(60.0, gt=0, le=LONGEST_S, description="longest reconnect delay")
    hang_timeout_s: float = Field(
        60.0,
        gt=0,
        le=LONGEST_S,
        description="an inference batch running longer than this stops the systemd watchdog "
        "pings, so systemd restarts the daemon",
    )
    status_interval_s: float = Field(
        5.0, gt=0, le=300, description="how often health figures are refreshed and reported"
    )
    log_stats_interval_s: float = Field(
        300.0, ge=0, le=LONGEST_S, description="one health line in the log this often (0: never)"
    )
    metrics: MetricsConfig = MetricsConfig()

    @model_validator(mode="after")
    def _backoff_order(self) -> DaemonConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class AppConfig(StrictModel):
    device_id: str = Field("edge-1", pattern=SLUG_PATTERN, description="device id; " + SLUG_HELP)
    cameras: tuple[CameraConfig, ...] = Field(min_length=1)
    segmenter: SegmenterConfig = BackgroundSegmenterConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig = MqttConfig()
    daemon: DaemonConfig = DaemonConfig()
    bridge: BridgeConfig | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cameras: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        return cameras
