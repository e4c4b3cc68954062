"""The watchdog: pings only while inference makes progress; a hung model stops them.

The daemon runs in-process here (``App``) so a segmenter can be made to hang on demand: it
is the real ONNX Runtime segmenter behind a gate the test closes. systemd's side is a
notify socket of the test's own, with ``$WATCHDOG_USEC`` set as ``WatchdogSec=`` would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from edge_app.config import AppConfig, load_config
from edge_app.config.zones import load_camera_zones
from edge_app.core.domain import Frame, PersonMask
from edge_app.core.errors import SegmenterError
from edge_app.runtime.app import App
from edge_app.runtime.systemd import Notifier
from edge_app.segmentation import Segmenter, create_segmenter
from tests.daemon_support import (
    WHOLE_FRAME,
    NotifySocket,
    make_video,
    wait_until,
    write_config,
    write_zones,
)


class GatedSegmenter:
    """A real segmenter that blocks while its gate is closed (a hung inference), or
    raises once ``fail`` is set (a crashed one)."""

    def __init__(self, inner: Segmenter) -> None:
        self.inner = inner
        self.name = "gated"
        self.batch_size = inner.batch_size
        self.gate = threading.Event()
        self.gate.set()
        self.blocked = threading.Event()
        self.fail = False

    def segment(self, frames: Sequence[Frame]) -> list[PersonMask]:
        if self.fail:
            raise SegmenterError("the model crashed")
        if not self.gate.is_set():
            self.blocked.set()
            self.gate.wait(30)
        return self.inner.segment(frames)

    def close(self) -> None:
        self.gate.set()
        self.inner.close()


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def config(tmp_path: Path) -> AppConfig:
    video = make_video(tmp_path / "v.avi", frames=50)
    zones = write_zones(tmp_path / "zones.yaml", "cam1", {"floor": WHOLE_FRAME})
    cam = {
        "id": "cam1",
        "source": {"type": "file", "path": str(video), "realtime": True, "loop": True},
        "zones": str(zones),
    }
    path = write_config(tmp_path, [cam], daemon={"hang_timeout_s": 0.6, "stall_timeout_s": 2})
    return load_config(path)


class Running:
    """An ``App`` started with a gated segmenter, ``run()`` in a thread."""

    def __init__(self, config: AppConfig, notify: NotifySocket) -> None:
        self.segmenter: GatedSegmenter | None = None

        def make(cfg: AppConfig) -> Segmenter:
            self.segmenter = GatedSegmenter(create_segmenter(cfg.segmenter))
            return self.segmenter

        self.app = App(
            config, load_camera_zones(config), notifier=Notifier(notify.path), make_segmenter=make
        )
        self.error: BaseException | None = None
        self.app.start()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.app.run()
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        if self.segmenter is not None:
            self.segmenter.gate.set()
        self.app.request_stop()
        self.thread.join(10)
        self.app.stop(5.0)


def pings_after(notify: NotifySocket, index: int) -> int:
    return sum(1 for m in notify.snapshot()[index:] if m.get("WATCHDOG") == "1")


def test_a_hung_inference_stops_the_pings_and_progress_resumes_them(
    config: AppConfig, notify: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # WatchdogSec=0.2s: a ping every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    running = Running(config, notify)
    try:
        assert wait_until(lambda: pings_after(notify, 0) >= 3, 10)
        assert running.segmenter is not None
        running.segmenter.gate.clear()
        assert running.segmenter.blocked.wait(10)
        assert notify.wait_for("STATUS", None, 1)
        assert wait_until(
            lambda: any(
                m.get("STATUS", "").startswith("unhealthy: the pipeline has been stuck")
                for m in notify.snapshot()
            ),
            10,
        )
        hung_at = len(notify.snapshot())
        # 10 ping intervals with the model still hung: not one ping.
        assert not wait_until(lambda: pings_after(notify, hung_at) > 0, 1.0)
        assert not running.app.watchdog.healthy

        running.segmenter.gate.set()
        assert wait_until(lambda: pings_after(notify, hung_at) >= 2, 10)
        assert running.app.watchdog.healthy
    finally:
        running.stop()
    assert running.error is None


def test_a_crashed_worker_stops_the_pings_and_the_daemon(
    config: AppConfig, notify: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    running = Running(config, notify)
    try:
        assert wait_until(lambda: pings_after(notify, 0) >= 2, 10)
        assert running.segmenter is not None
        running.segmenter.fail = True
        running.thread.join(10)
        assert not running.thread.is_alive()
    finally:
        running.stop()
    assert isinstance(running.error, SegmenterError)
    assert "the model crashed" in str(running.error)
    assert running.app.healthy_stop is False


def test_no_watchdog_configured_means_no_pings(
    config: AppConfig, notify: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    running = Running(config, notify)
    try:
        assert notify.wait_for("READY", "1", 10)
        assert wait_until(lambda: any("STATUS" in m for m in notify.snapshot()[1:]), 10)
    finally:
        running.stop()
    assert pings_after(notify, 0) == 0


def test_a_stop_with_a_hung_model_is_bounded_and_reported(
    config: AppConfig, notify: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("edge_app.runtime.app._PIPELINE_DRAIN_S", 0.5)
    running = Running(config, notify)
    assert running.segmenter is not None
    running.segmenter.gate.clear()
    assert running.segmenter.blocked.wait(10)
    running.app.request_stop()
    running.thread.join(10)
    stopper = threading.Thread(target=running.app.stop, args=(2.0,), daemon=True)
    stopper.start()
    stopper.join(15)  # capture 2 s + drain 0.5 s + sinks 2 s, with room to spare
    stopped = not stopper.is_alive()
    running.segmenter.gate.set()
    assert stopped
    assert running.app.healthy_stop is False  # `edge-app run` exits 1 then
    assert any(m.get("STOPPING") == "1" for m in notify.snapshot())


def test_sources_that_end_finish_the_run_without_an_unhealthy_report(
    tmp_path: Path,
    notify: NotifySocket,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    video = make_video(tmp_path / "once.avi", frames=20)
    zones = write_zones(tmp_path / "zones.yaml", "cam1", {"floor": WHOLE_FRAME})
    cam = {"id": "cam1", "source": {"type": "file", "path": str(video)}, "zones": str(zones)}
    config = load_config(write_config(tmp_path, [cam]))
    app = App(config, load_camera_zones(config), notifier=Notifier(notify.path))
    with caplog.at_level("INFO"):
        try:
            app.start()
            app.run()  # returns once the file has been read to its end
        finally:
            app.stop(5.0)
    assert "all sources ended" in caplog.text
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    assert app.watchdog.healthy and app.healthy_stop
    assert not any(m.get("STATUS", "").startswith("unhealthy") for m in notify.snapshot())
