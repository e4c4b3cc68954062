"""Running the ``App`` as a daemon: signals, pid file, a bounded stop.

SIGTERM and SIGINT ask for a stop, SIGHUP for a zone reload; the handlers only set flags,
which the supervisor loop (main thread) acts on. ``run_app`` is start, run, stop with the
pid file around it; with ``stop_guard`` a stop that hangs past its budget ends the process,
so a stop never outlasts systemd's ``TimeoutStopSec``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from edge_app.config import AppConfig
from edge_app.config.zones import load_camera_zones
from edge_app.pipeline.camera import CameraResult
from edge_app.runtime.app import App
from edge_app.runtime.pidfile import PidFile
from edge_app.runtime.systemd import Notifier

log = logging.getLogger(__name__)

STOP_BUDGET_S = 15.0
"""Seconds a stop may take on top of the drain timeout: capture join (2 s), inference drain
(5 s), MQTT ``offline`` (2 s) and a margin. Beyond that the stop is stuck."""


def install_signal_handlers(app: App) -> None:
    """SIGTERM/SIGINT stop the daemon, SIGHUP reloads the zone files (main thread only)."""

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        app.request_stop()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        log.info("signal SIGHUP: reloading the zone files")
        app.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)


def _hard_exit(limit_s: float) -> None:
    log.critical("the stop took longer than %.0f s: exiting now without finishing it", limit_s)
    logging.shutdown()
    os._exit(1)


def run_app(
    config: AppConfig,
    on_result: Callable[[CameraResult], None] | None = None,
    drain_timeout_s: float = 10.0,
    pid_file: Path | None = None,
    stop_guard: bool = False,
) -> App:
    """Start the daemon, run until done or signalled, stop it cleanly; returns it."""
    app = App(config, load_camera_zones(config), on_result, notifier=Notifier.from_environment())
    if threading.current_thread() is threading.main_thread():
        install_signal_handlers(app)
    with PidFile(pid_file):
        try:
            if not app.stop_event.is_set():
                app.start()
                app.run()
        finally:
            limit_s = drain_timeout_s + STOP_BUDGET_S
            guard = threading.Timer(limit_s, _hard_exit, args=(limit_s,))
            guard.daemon = True
            if stop_guard:
                guard.start()
            try:
                app.stop(drain_timeout_s)
            finally:
                guard.cancel()
    return app
