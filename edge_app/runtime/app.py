"""The composition root: wires sources, the segmenter, analytics and sinks together.

``App.start()`` is a readable list of steps and ``App.stop()`` undoes them in reverse.
Threads, not processes: one capture thread per camera (``runtime.capture``), the stream
runner's stages (``pipeline.runner``: batches across cameras, segmenter, analytics), the
sinks' own writer and network threads, and the main thread as supervisor (``App.run``,
``runtime.supervisor``): it acts on stop and reload requests, notices stalled cameras,
pings systemd's watchdog while the pipeline makes progress, and reports health. What is
done with all the cameras at once is in ``runtime.camera``. Running it as a daemon
(signals, pid file) is ``runtime.daemon``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from edge_app.config import AppConfig, CameraConfig
from edge_app.config.zones import ZoneSet, load_camera_zones
from edge_app.core.errors import EdgeAppError, SegmenterError, StoreError
from edge_app.core.events import Event, EventStamper
from edge_app.pipeline.camera import CameraResult
from edge_app.pipeline.runner import RunnerCamera, StreamRunner, warm_up
from edge_app.runtime.camera import (
    CameraParts,
    learned_states,
    open_cameras,
    stop_capture,
    wait_for_first_frames,
)
from edge_app.runtime.health import HealthSnapshot, WatchdogGate
from edge_app.runtime.learned_state import LearnedStateStore
from edge_app.runtime.metrics import MetricsServer, start_metrics_server
from edge_app.runtime.report import HealthBook, daemon_snapshot, hand_out, pipeline_stats
from edge_app.runtime.supervisor import supervise
from edge_app.runtime.systemd import Notifier, watchdog_interval_s
from edge_app.segmentation import (
    LearningSegmenter,
    Segmenter,
    create_segmenter,
    stretched_input_size,
)
from edge_app.sinks.base import Sink, StatsSink
from edge_app.sources import Source, create_source

__all__ = ["App"]

log = logging.getLogger(__name__)

ResultCallback = Callable[[CameraResult], None]
EventsCallback = Callable[[tuple[Event, ...]], None]
ZonesLoader = Callable[[AppConfig], dict[str, ZoneSet]]

_PIPELINE_DRAIN_S = 5.0  # at a stop, for the frames in flight


def _same(a: ZoneSet, b: ZoneSet) -> bool:
    """Same zones and frame size: a reload keeps the camera's open visits then."""
    return (a.zones, a.frame_size) == (b.zones, b.frame_size)


def _default_segmenter(config: AppConfig) -> Segmenter:
    return create_segmenter(config.segmenter)


class App:
    """The daemon. ``run()`` blocks until every finite source has ended or a stop.

    ``on_result`` gets every analysed frame and ``on_finish`` every event emitted outside a
    frame (visits closed at a stop or reload, camera online/offline), both on the runner's
    analysis thread (``on_finish`` of the stop on the main thread, after the runner ended).
    ``make_segmenter``, ``make_source`` and ``load_zones`` default to the
    configured backends.
    """

    def __init__(
        self,
        config: AppConfig,
        zones: dict[str, ZoneSet],
        on_result: ResultCallback | None = None,
        on_finish: EventsCallback | None = None,
        *,
        notifier: Notifier | None = None,
        make_segmenter: Callable[[AppConfig], Segmenter] = _default_segmenter,
        make_source: Callable[[CameraConfig], Source] | None = None,
        load_zones: ZonesLoader | None = None,
    ) -> None:
        self.config = config
        self.zones = dict(zones)
        self.on_result = on_result
        self.on_finish = on_finish
        self.notifier = notifier if notifier is not None else Notifier(None)
        self.stop_event = threading.Event()
        self.reload_event = threading.Event()
        self.cameras: dict[str, CameraParts] = {}
        self.segmenter: Segmenter | None = None
        self.runner: StreamRunner | None = None
        self.sinks: list[Sink] = []
        self.health = HealthBook()
        self.watchdog = WatchdogGate(
            self.notifier, watchdog_interval_s(), config.daemon.hang_timeout_s
        )
        self.healthy_stop = True
        self._make_segmenter = make_segmenter
        self._make_source = make_source or self._open_camera
        self._load_zones = load_zones
        self._stamper: EventStamper | None = None  # the sinks' one, resuming the stored seqs
        self._snapshot: HealthSnapshot | None = None
        self.metrics: MetricsServer | None = None
        self._stopped = False

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Open everything; READY goes to systemd once the cameras and the model are up."""
        self._init_sinks()
        self._init_segmenter()
        self._init_cameras()
        self._start_runner()
        self._start_capture()
        self._start_metrics()
        self._wait_for_cameras()
        self._raise_runner_error()  # a model that fails on the first frames is not ready
        self._snapshot = self.health_snapshot()
        self.notifier.ready(self._snapshot.status_line())
        log.info("ready: %s", self._snapshot.status_line())

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop capture, finish the frames in flight and open visits, then flush the sinks
        (SQLite, MQTT with ``offline``) within ``timeout_s`` + ``runtime.daemon.STOP_BUDGET_S``."""
        if self._stopped:
            return
        self._stopped = True
        started = time.monotonic()
        self.notifier.stopping("stopping: finishing the frames in flight")
        self.stop_event.set()
        for sink in self.sinks:
            sink.stopping()  # the pipeline must finish even when the store is full
        self._stop_capture()
        if self._stop_runner():
            self._finish_cameras()
            self._save_learned_state()
            if self.segmenter is not None:
                self.segmenter.close()
        self.segmenter = None
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None
        for sink in reversed(self.sinks):
            sink.close(timeout_s)
        lost = sum(sink.health().events_lost for sink in self.sinks)
        if lost:
            self.healthy_stop = False  # a run that lost events must not look fine
        self.sinks = []
        self.notifier.close()
        log.info("stopped in %.1f s", time.monotonic() - started)

    def _init_sinks(self) -> None:
        from edge_app.sinks import create_sinks

        self._stamper, self.sinks = create_sinks(
            self.config.store, self.config.mqtt, self.config.device_id
        )
        self._announce_zones()

    def _announce_zones(self) -> None:
        # What was published for zones that no longer exist is withdrawn by the sinks.
        ids = {cid: [zone.id for zone in zones.zones] for cid, zones in self.zones.items()}
        for sink in self.sinks:
            sink.set_zones(ids)

    def _init_segmenter(self) -> None:
        self.segmenter = self._make_segmenter(self.config)
        if self.stop_event.is_set():
            return
        elapsed_s = warm_up(self.segmenter)
        log.info(
            "segmenter %s warm (batch %d, %.0f ms)",
            self.segmenter.name,
            self.segmenter.batch_size,
            elapsed_s * 1000,
        )

    def _open_camera(self, cam: CameraConfig) -> Source:
        # A model that stretches frames to its input gets them at that size from cameras
        # that can scale while decoding (the VIC on a Jetson), not at full resolution.
        scale_to = None if self.segmenter is None else stretched_input_size(self.segmenter)
        return create_source(
            cam, read_timeout_s=self.config.daemon.stall_timeout_s, scale_to=scale_to
        )

    def _init_cameras(self) -> None:
        stretched_to = None if self.segmenter is None else stretched_input_size(self.segmenter)
        opened = open_cameras(
            self.config,
            self.zones,
            self._make_source,
            self._stamper_of_sinks,
            self._on_camera_status,
            stretched_to,
        )
        for parts, saved in opened:  # each kept at once: a later failure leaves it to stop
            self.cameras[parts.config.id] = parts
            self._restore_scene(parts.config.id, saved.get("background"))

    def _restore_scene(self, camera_id: str, state: dict[str, Any] | None) -> None:
        # A restart is not a cold start: the segmenter checks the saved scene against the
        # camera's first frame, and starts cold (counts marked warming_up) if it moved.
        if state is None or not isinstance(self.segmenter, LearningSegmenter):
            return
        try:
            self.segmenter.restore(camera_id, state)
        except ValueError as exc:
            log.warning("camera %s: saved scene ignored (%s)", camera_id, exc)

    def _start_runner(self) -> None:
        if self.segmenter is None:
            raise SegmenterError("the segmenter was not created")
        cameras = {cid: RunnerCamera(cam.feed, cam.analytics) for cid, cam in self.cameras.items()}
        self.runner = StreamRunner(
            self.segmenter, cameras, self._on_result, on_batch=self.health.on_batch
        )
        self.runner.start()

    def _start_capture(self) -> None:
        for cam in self.cameras.values():
            cam.capture.start()

    def _start_metrics(self) -> None:
        metrics = self.config.daemon.metrics
        if metrics.enabled:
            self.metrics = start_metrics_server(metrics.host, metrics.port, self.last_snapshot)

    def _wait_for_cameras(self) -> None:
        stall_timeout_s = self.config.daemon.stall_timeout_s
        wait_for_first_frames(self.cameras.values(), stall_timeout_s, self.stop_event)

    def _stop_capture(self) -> None:
        for camera_id in stop_capture(self.cameras.values()):
            log.warning("camera %s: capture is stuck in a read; leaving it", camera_id)

    def _stop_runner(self) -> bool:
        if self.runner is None:
            return True
        self.runner.stop(drain=True)
        if self.runner.join(_PIPELINE_DRAIN_S):
            return True
        self.healthy_stop = False
        log.error(
            "the pipeline did not finish within %.0f s of the stop (stuck segmenter); "
            "stopping without it, open visits stay open until the next start",
            _PIPELINE_DRAIN_S,
        )
        return False

    def _save_learned_state(self) -> None:
        # What each camera learned survives a restart (runtime.learned_state). Only cameras
        # that analysed frames in this run learned anything: a refused start or a camera
        # that never delivered a frame leaves what an earlier run learned as it was.
        store = LearnedStateStore.beside(self.config.store.path)
        for cid, learned in learned_states(self.cameras, self.segmenter):
            try:
                store.save(cid, learned)
            except StoreError as exc:
                log.error("%s", exc)

    def _finish_cameras(self) -> None:
        for cam in self.cameras.values():
            self._emit(cam.analytics.finish())
            if cam.capture.live and cam.capture.online:
                wall = datetime.now(timezone.utc)
                stamper = self._stamper_of_sinks()
                self._emit((cam.status_event(False, "stopping", wall, stamper),))

    # --- supervisor (main thread) ------------------------------------------------------

    def run(self) -> None:
        """Supervise until a stop, or until every finite source has ended
        (``runtime.supervisor``)."""
        if self.runner is None:
            raise SegmenterError("App.run() needs App.start() first")
        failure = supervise(self, self.runner, self._report)
        if failure is not None:
            self.healthy_stop = False
            self.notifier.status(f"failed: {failure}")
            raise StoreError(failure)  # fatal: no more pings, a non-zero exit
        self._raise_runner_error()
        if self.runner.finished.is_set():
            log.info("all sources ended")

    def _raise_runner_error(self) -> None:
        error = self.runner.error if self.runner is not None else None
        if error is None:
            return
        self.healthy_stop = False
        if isinstance(error, EdgeAppError):
            raise error
        # A stage of the runner or a file camera's capture failed unexpectedly: fatal.
        raise EdgeAppError(f"the pipeline failed: {type(error).__name__}: {error}") from error

    def request_stop(self) -> None:
        self.stop_event.set()

    def request_reload(self) -> None:
        """Reload the zone files at the supervisor's next tick (what SIGHUP does)."""
        self.reload_event.set()

    def reload_zones(self) -> bool:
        """Validate every zone file, then swap in the ones that changed; on any error keep
        all current zones and log why. True when new zones were taken."""
        self.notifier.reloading("reloading zone files")
        try:
            new = (self._load_zones or load_camera_zones)(self.config)
        except EdgeAppError as exc:
            log.error("zone reload failed, keeping the current zones: %s", exc)
            self.notifier.reloaded(f"zone reload failed (current zones kept): {exc}")
            return False
        changed = {cid: zones for cid, zones in new.items() if not _same(zones, self.zones[cid])}
        self.zones.update(changed)
        for cid, zones in changed.items():
            log.info("zones reloaded: camera %s: %s", cid, ", ".join(z.id for z in zones.zones))
            if self.runner is not None:
                analytics = self.cameras[cid].analytics
                self.runner.call(
                    lambda a=analytics, z=zones: self._emit(a.reload(z))  # type: ignore[misc]
                )
        if changed and self.runner is not None:
            # After the reloads, on the same thread: no state of a removed zone follows.
            self.runner.call(self._announce_zones)
        if not changed:
            log.info("zone reload: no zone file changed")
        self.notifier.reloaded(f"zones reloaded ({len(changed)} camera(s) changed)")
        return bool(changed)

    # --- events and figures ------------------------------------------------------------

    def _on_result(self, result: CameraResult) -> None:
        """One analysed frame (the runner's analysis thread): the sinks, health, logs."""
        cam = self.cameras[result.frame.camera_id]
        hand_out(result.events, result.analysis.states, self.sinks, self.health)
        cam.fps.count()
        if self.on_result is not None:
            self.on_result(result)

    def _emit(self, events: tuple[Event, ...]) -> None:
        if not events:
            return
        hand_out(events, (), self.sinks, self.health)
        if self.on_finish is not None:
            self.on_finish(events)

    def _stamper_of_sinks(self) -> EventStamper:
        if self._stamper is None:
            raise StoreError("events stamped before the sinks were opened")
        return self._stamper

    def _on_camera_status(self, camera_id: str, online: bool, reason: str) -> None:
        """A live camera went offline or came back (capture thread). Handled on the runner's
        analysis thread, which owns the analytics: an offline camera's open visits end
        first."""
        wall = datetime.now(timezone.utc)
        cam = self.cameras[camera_id]

        def apply() -> None:
            ended = () if online else cam.analytics.finish()
            self._emit((*ended, cam.status_event(online, reason, wall, self._stamper_of_sinks())))

        if self.runner is not None:
            self.runner.call(apply)

    def health_snapshot(self) -> HealthSnapshot:
        return daemon_snapshot(
            self.health,
            self.cameras,
            self.runner.batch_size if self.runner else 1,
            self.sinks,
            self.metrics.restarts if self.metrics is not None else None,
        )

    def last_snapshot(self) -> HealthSnapshot | None:
        """The figures of the last report (what the metrics endpoint serves)."""
        return self._snapshot

    def _report(self, log_it: bool) -> None:
        snap = self.health_snapshot()
        self._snapshot = snap
        if self.watchdog.healthy:
            self.notifier.status(snap.status_line())
        if log_it:
            log.info("health: %s", snap.status_line())
        stats = pipeline_stats(snap)
        for sink in self.sinks:
            if isinstance(sink, StatsSink):
                sink.report_stats(stats)
