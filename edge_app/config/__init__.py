"""The daemon's configuration: one YAML file, validated once, immutable afterwards.

Every model forbids unknown keys, so a typo is an error instead of a silently ignored
setting. Backends are chosen by a discriminated ``type:``. Relative paths are resolved
against the directory of the config file. Geometry (zone files) is loaded and checked in
``edge_app.config.zones``, not here.
"""

from edge_app.config.app import (
    AnalyticsConfig,
    AppConfig,
    BridgeConfig,
    DaemonConfig,
    MetricsConfig,
    MqttConfig,
    StoreConfig,
    TlsConfig,
)
from edge_app.config.base import (
    LONGEST_S,
    SLUG_HELP,
    SLUG_PATTERN,
    SLUG_RE,
    SecretRef,
    StrictModel,
)
from edge_app.config.loading import (
    check_config_file,
    format_loc,
    load_config,
    parse_config,
    read_yaml,
    read_yaml_checked,
    validation_problems,
    validation_to_config_error,
)
from edge_app.config.segmenter import (
    BackgroundSegmenterConfig,
    OnnxSegmenterConfig,
    OutputConfig,
    PreprocessConfig,
    SegmenterConfig,
    TensorRTSegmenterConfig,
)
from edge_app.config.sources import (
    CameraConfig,
    CsiSourceConfig,
    FileSourceConfig,
    GStreamerSourceConfig,
    RtspSourceConfig,
    SourceConfig,
    SyntheticSourceConfig,
    UsbSourceConfig,
)

__all__ = [
    "LONGEST_S",
    "SLUG_HELP",
    "SLUG_PATTERN",
    "SLUG_RE",
    "AnalyticsConfig",
    "AppConfig",
    "BackgroundSegmenterConfig",
    "BridgeConfig",
    "CameraConfig",
    "CsiSourceConfig",
    "DaemonConfig",
    "FileSourceConfig",
    "GStreamerSourceConfig",
    "MetricsConfig",
    "MqttConfig",
    "OnnxSegmenterConfig",
    "OutputConfig",
    "PreprocessConfig",
    "RtspSourceConfig",
    "SecretRef",
    "SegmenterConfig",
    "SourceConfig",
    "StoreConfig",
    "StrictModel",
    "SyntheticSourceConfig",
    "TensorRTSegmenterConfig",
    "TlsConfig",
    "UsbSourceConfig",
    "check_config_file",
    "format_loc",
    "load_config",
    "parse_config",
    "read_yaml",
    "read_yaml_checked",
    "validation_problems",
    "validation_to_config_error",
]
