"""The daemon with a live camera that stalls beside a file camera that does not.

The live camera is ``MjpegCamera`` (real HTTP + FFmpeg); its ``camera.offline`` and
``camera.online`` events must reach SQLite like any other event, and the other camera must
keep being analysed while it is down. The Prometheus endpoint serves the same figures.
"""

from __future__ import annotations

import re
import threading
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from edge_app.config import AppConfig, CameraConfig, load_config
from edge_app.config.zones import load_camera_zones
from edge_app.core.events import Event
from edge_app.runtime.app import App
from edge_app.sources import Source, create_source
from edge_app.sources.live import CaptureTarget, LiveSource
from tests.daemon_support import (
    WHOLE_FRAME,
    MjpegCamera,
    make_video,
    mjpeg_camera,
    wait_until,
    write_config,
    write_zones,
)
from tests.mqtt_broker import free_port
from tests.test_daemon_signals import events


def two_camera_config(tmp_path: Path, **daemon: object) -> AppConfig:
    video = make_video(tmp_path / "v.avi", frames=50)
    cams = []
    for cam_id in ("net", "floor"):
        zones = write_zones(tmp_path / f"{cam_id}.yaml", cam_id, {"all": WHOLE_FRAME})
        source: dict[str, object] = (
            {"type": "rtsp", "url": "rtsp://127.0.0.1:9/unused"}  # replaced by the MJPEG camera
            if cam_id == "net"
            else {"type": "file", "path": str(video), "realtime": True, "loop": True}
        )
        cams.append({"id": cam_id, "source": source, "zones": str(zones)})
    settings = {"stall_timeout_s": 1.0, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, **daemon}
    return load_config(write_config(tmp_path, cams, batch_size=2, daemon=settings))


def sources_with(camera: MjpegCamera, config: AppConfig) -> Callable[[CameraConfig], Source]:
    def make(cam: CameraConfig) -> Source:
        if cam.id == "net":
            target = CaptureTarget(camera.url, "mjpeg test camera", "ffmpeg")
            return LiveSource("net", target, timeout_s=config.daemon.stall_timeout_s)
        return create_source(cam)

    return make


class Collected:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, events: tuple[Event, ...]) -> None:
        with self._lock:
            self.events.extend(events)

    def camera_states(self, camera: str) -> list[str]:
        with self._lock:
            return [e.type for e in self.events if e.camera == camera and e.zone is None]


def test_a_stalled_camera_goes_offline_and_back_while_the_other_keeps_going(
    tmp_path: Path,
) -> None:
    config = two_camera_config(tmp_path)
    seen = Collected()
    with mjpeg_camera(fps=15) as camera:
        app = App(
            config,
            load_camera_zones(config),
            on_finish=seen,
            make_source=sources_with(camera, config),
        )
        runner = threading.Thread(target=app.run, daemon=True)
        try:
            app.start()
            runner.start()
            assert wait_until(lambda: seen.camera_states("net") == ["camera.online"], 10)
            camera.stall()
            assert wait_until(
                lambda: seen.camera_states("net") == ["camera.online", "camera.offline"], 10
            )
            floor = app.cameras["floor"]
            before = floor.fps.total
            # While "net" is down, "floor" is still analysed.
            assert wait_until(lambda: floor.fps.total >= before + 10, 10)
            assert app.cameras["net"].capture.online is False
            camera.resume()
            assert wait_until(lambda: seen.camera_states("net")[-1:] == ["camera.online"], 10)
            snapshot = app.health_snapshot()
        finally:
            app.request_stop()
            runner.join(10)
            app.stop(5.0)
    net = next(c for c in snapshot.cameras if c.camera_id == "net")
    assert net.reconnects >= 1 and net.online is True and net.live
    stored = [
        (t, payload)
        for _, t, zone, payload, _ in events(config.store.path)
        if zone is None and payload["camera"] == "net"
    ]
    assert [t for t, _ in stored] == [
        "camera.online", "camera.offline", "camera.online", "camera.offline",
    ]  # fmt: skip
    assert "no frame within 1 s" in str(stored[1][1]["reason"])
    assert stored[-1][1]["reason"] == "stopping"


def test_the_metrics_endpoint_serves_the_pipeline_figures(tmp_path: Path) -> None:
    pytest.importorskip("prometheus_client")
    port = free_port()
    config = two_camera_config(tmp_path, metrics={"enabled": True, "port": port})
    with mjpeg_camera(fps=15) as camera:
        app = App(config, load_camera_zones(config), make_source=sources_with(camera, config))
        runner = threading.Thread(target=app.run, daemon=True)
        try:
            app.start()
            runner.start()

            def scrape() -> str:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return str(r.read().decode())

            def has_figures() -> bool:
                text = scrape()
                return bool(
                    re.search(
                        r'edge_app_camera_frames_processed_total\{camera="floor"\} [1-9]', text
                    )
                    and 'edge_app_events_total{type="camera.online"} 1.0' in text
                )

            assert wait_until(has_figures, 15, step_s=0.2)
            text = scrape()
            # The endpoint's thread dies: the supervisor serves it again, counted.
            assert app.metrics is not None
            app.metrics.kill()
            with pytest.raises(OSError):
                scrape()

            def served_again() -> bool:
                try:
                    return 'edge_app_thread_restarts_total{thread="metrics"} 1.0' in scrape()
                except OSError:
                    return False

            assert wait_until(served_again, 15, step_s=0.2)
        finally:
            app.request_stop()
            runner.join(10)
            app.stop(5.0)
    for name in (
        'edge_app_camera_fps{camera="net"}',
        'edge_app_camera_online{camera="net"} 1.0',
        'edge_app_camera_frames_dropped_total{camera="floor"}',
        'edge_app_camera_reconnects_total{camera="net"} 0.0',
        'edge_app_inference_batch_seconds_bucket{le="+Inf"}',
        "edge_app_inference_batch_seconds_count",
        "edge_app_inference_frame_seconds",
        "edge_app_uptime_seconds",
        'edge_app_build_info{python="',
        "process_start_time_seconds",
        "edge_app_events_lost_total 0.0",
        "edge_app_zone_states_dropped_total 0.0",
        "edge_app_store_write_errors_total 0.0",
        'edge_app_thread_restarts_total{thread="capture-net"} 0.0',
    ):
        assert name in text, name
    with pytest.raises(OSError):  # the endpoint is gone after the stop
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
