"""One validation for ``edge-app check`` and ``edge-app run``: everything a config must
pass before anything is opened.

``check_config(path)`` reads the config file (a key given twice is a problem), validates
every value (unknown keys, types, ranges, finite numbers, legal MQTT topics and ids), then
runs each check in ``CHECKS`` on it: files exist and load (video files, zone files, model
files, the nvinfer config, TLS material), secrets resolve, the store's path is usable, the
metrics address resolves, zones fit their camera's picture where its size is known. It
returns every problem found, each a ``ConfigError`` naming the file, the field and what to
do; none of the checks opens a camera, loads a model, opens the database or connects
anywhere.

``load_checked_config(path)`` is what both commands call before they do anything else:
the config, or a ``ConfigError`` with every problem. So ``run`` refuses exactly what
``check`` refuses. A new check is one more function in ``CHECKS``.
"""

from __future__ import annotations

from pathlib import Path

from edge_app.config import AppConfig, check_config_file
from edge_app.core.errors import ConfigError, config_error
from edge_app.preflight.base import Check, LoadedConfig
from edge_app.preflight.cameras import check_cameras
from edge_app.preflight.network import check_metrics, check_mqtt
from edge_app.preflight.segmenter import check_nvinfer, check_segmenter
from edge_app.preflight.storage import check_store

__all__ = [
    "CHECKS",
    "Check",
    "LoadedConfig",
    "check_config",
    "load_checked_config",
]

CHECKS: tuple[Check, ...] = (
    check_cameras,  # video files, live camera settings and secrets, zone files, aspect ratio
    check_segmenter,  # model files, ONNX Runtime installed
    check_nvinfer,  # a DeepStream nvinfer config and the model files it names
    check_store,  # store.path
    check_mqtt,  # credentials, TLS material (MQTT enabled)
    check_metrics,  # prometheus-client, listen address (metrics enabled)
)
"""Every check ``check`` and ``run`` make after the config's own validation, in order."""


def check_config(
    path: Path, checks: tuple[Check, ...] = CHECKS
) -> tuple[AppConfig | None, list[ConfigError]]:
    """The config at ``path`` (``None`` when its structure is invalid, so that the file
    checks cannot run) and every problem found in it."""
    try:
        config, problems = check_config_file(path)
    except ConfigError as exc:  # unreadable, or not YAML at all
        return None, list(exc.problems)
    if config is not None:
        loaded = LoadedConfig(path, config)
        for check in checks:
            problems += check(loaded)
    return config, problems


def load_checked_config(path: Path) -> AppConfig:
    """The config at ``path`` if it passes every check, else ``ConfigError`` with every
    problem (``ConfigErrors`` when several)."""
    config, problems = check_config(path)
    if config is None or problems:
        raise config_error(problems)
    return config
