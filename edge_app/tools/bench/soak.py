"""A month in the store, compressed: the daemon run again and again on hours of synthetic
store time, and everything a store lives with done to it, then its promises checked.

    python -m edge_app.tools.bench.soak [--runs 12] [--store-minutes 10] [--json FILE]
    edge-app bench --only soak [--soak-runs N] [--soak-minutes M]

Each run is ``edge-app run`` (a subprocess) on the synthetic shop camera, rendered as fast
as it is analysed (``--store-minutes`` of store time at ``--fps``), with the background
segmenter, a private mosquitto (persistence on, as docs/mqtt.md advises) and Home
Assistant discovery. Size retention deletes all along (``--max-size-mb``). The runs take
turns at: ending with their source; SIGKILL and SIGTERM mid-run; the broker stopped for a
while; a zone reload (SIGHUP) that removes a zone, or brings it back; and, when a tmpfs
can be mounted (root, or inside ``unshare -rm``), a disk filled to the last byte and then
freed. The last run always ends cleanly. Then (``soak_checks``): no seq ever reused, every
committed event delivered (duplicates only by id), every enter has its exit, the broker
retains exactly the current zones' states and discovery configs, the learned person size
survives, ``integrity_check`` is ok, memory and the database stay bounded. Prints one line
per run (RSS and database size over time) and the summary; exits 1 if a promise broke.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_app.tools.bench import soak_checks as checks
from edge_app.tools.bench.soak_mqtt import Broker, Subscriber, retained_topics
from edge_app.tools.bench.soak_probes import sampling_rss, store_seq, stored_events, wait_for

REPO = Path(__file__).resolve().parents[3]
DEVICE = "soak"
CAMERA = "floor"
BASE = f"edge-app/{DEVICE}"
ZONES = {
    "door": [[0.0, 0.5], [0.35, 0.5], [0.35, 1.0], [0.0, 1.0]],
    "aisle": [[0.3, 0.3], [0.7, 0.3], [0.7, 1.0], [0.3, 1.0]],
    "till": [[0.65, 0.4], [1.0, 0.4], [1.0, 1.0], [0.65, 1.0]],
}
REMOVABLE = "till"
ACTIONS = ("end", "sigkill", "outage", "sigterm", "reload", "disk", "sigkill", "reload")
EXPECTED_EXIT = {"sigkill": -signal.SIGKILL}
MAX_RSS_MB = 600.0


@dataclass(frozen=True, slots=True)
class SoakPlan:
    """How long and how hard: ``runs`` daemon runs of ``store_minutes`` of store time each
    at ``fps``; ``disk_mb``: the tmpfs the store lives on (0: no disk phase)."""

    runs: int = 12
    store_minutes: float = 10.0
    fps: float = 1.0
    seed: int = 7
    people: int = 40
    max_size_mb: float = 1.0
    disk_mb: int = 24


@dataclass
class SoakReport:
    runs: list[checks.RunFigures] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    events: int = 0
    simulated_s: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": [asdict(r) for r in self.runs],
            "failures": self.failures,
            "notes": self.notes,
            "events": self.events,
            "simulated_hours": round(self.simulated_s / 3600, 2),
            "seconds": round(self.seconds, 1),
        }


class Soak:
    def __init__(self, plan: SoakPlan, folder: Path) -> None:
        self.plan = plan
        self.folder = folder
        self.store_dir = folder / "store"
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.db = self.store_dir / "edge-app.db"
        self.zones_path = folder / "floor.yaml"
        self.zones = dict(ZONES)
        self.report = SoakReport()
        self.disk = False
        self.broker = Broker(folder / "broker")

    def mount_disk(self) -> None:
        if self.plan.disk_mb <= 0:
            self.report.notes.append("disk phase off (--disk-mb 0)")
            return
        size = f"size={self.plan.disk_mb}m"
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(self.store_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            self.disk = True
        else:
            why = result.stderr.strip() or f"exit {result.returncode}"
            self.report.notes.append(
                f"disk phase skipped: cannot mount a tmpfs ({why}); run as root or under "
                "`unshare -rm`"
            )

    def unmount_disk(self) -> None:
        if self.disk:  # lazily: the last daemon's files may still be closing
            subprocess.run(["umount", "-l", str(self.store_dir)], capture_output=True, check=False)
            self.disk = False

    def write_zones(self) -> None:
        data = {
            "camera": CAMERA,
            "zones": [{"id": z, "polygon": p} for z, p in self.zones.items()],
        }
        self.zones_path.write_text(yaml.safe_dump(data))

    def write_config(self, index: int) -> Path:
        plan = self.plan
        config = {
            "device_id": DEVICE,
            "cameras": [
                {
                    "id": CAMERA,
                    "source": {
                        "type": "synthetic",
                        "duration_s": plan.store_minutes * 60,
                        "fps": plan.fps,
                        "width": 192,
                        "height": 128,
                        "people": plan.people,
                        "seed": plan.seed + index,
                    },
                    "zones": str(self.zones_path),
                }
            ],
            "segmenter": {"type": "background", "mask_max_side": 192},
            "store": {
                "path": str(self.db),
                "synchronous": "NORMAL",
                "max_size_mb": plan.max_size_mb,
                "retention_check_s": 1.0,
            },
            "mqtt": {
                "host": "127.0.0.1",
                "port": self.broker.port,
                "ha_discovery": True,
                "stats_interval_s": 2.0,
                "reconnect_min_s": 0.2,
                "reconnect_max_s": 1.0,
            },
            "daemon": {"status_interval_s": 1.0},
        }
        path = self.folder / "edge-app.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def learned(self) -> bool | None:
        path = self.db.with_name(self.db.stem + ".person-size.json")
        try:
            return CAMERA in json.loads(path.read_text()).get("cameras", {})
        except (OSError, ValueError):
            return None

    def free_mb(self) -> float:
        st = os.statvfs(self.store_dir)
        return st.f_bavail * st.f_frsize / 1e6

    def fill_disk(self) -> Path:
        """A file that takes every byte left (unbuffered: nothing left to flush at close)."""
        filler = self.store_dir / "filler"
        try:
            with filler.open("wb", buffering=0) as f:
                while True:
                    f.write(bytes(1 << 16))
        except OSError:
            pass  # full (or already full: then the file may not even be created)
        return filler

    def run_once(self, index: int, action: str) -> checks.RunFigures:
        before = store_seq(self.db)
        config = self.write_config(index)
        log_path = self.folder / f"run-{index:03d}.log"
        started = time.monotonic()
        notes: list[str] = []
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "edge_app", "run", "--config", str(config),
                 "--drain-timeout", "5"],
                stdout=subprocess.DEVNULL, stderr=log, env=env,
            )  # fmt: skip
        with sampling_rss(proc.pid) as peak:

            def progressed(n: int) -> Callable[[], bool]:
                return lambda: proc.poll() is not None or store_seq(self.db) >= before + n

            if action in ("sigkill", "sigterm"):
                wait_for(progressed(40), 60)
                proc.send_signal(signal.SIGKILL if action == "sigkill" else signal.SIGTERM)
            elif action == "outage":
                wait_for(progressed(10), 60)
                self.broker.stop()
                time.sleep(1.5)
                self.broker.start()
            elif action == "reload":
                wait_for(progressed(10), 60)
                if REMOVABLE in self.zones:
                    del self.zones[REMOVABLE]
                    notes.append(f"zone {REMOVABLE} removed")
                else:
                    self.zones[REMOVABLE] = ZONES[REMOVABLE]
                    notes.append(f"zone {REMOVABLE} back")
                self.write_zones()
                proc.send_signal(signal.SIGHUP)
            elif action == "disk" and self.disk:
                wait_for(progressed(10), 60)
                notes.append(f"{self.free_mb():.1f} MB free before")
                filler = self.fill_disk()
                time.sleep(1.5)
                filler.unlink(missing_ok=True)
                notes.append("disk full for 1.5 s")
            elif action == "disk":
                notes.append("disk phase skipped")
            try:
                code = proc.wait(300)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait(10)
                notes.append("did not end within 300 s")
        text = log_path.read_text(errors="replace")
        refused = text.count("cannot write to the event store")
        if refused:
            notes.append(f"{refused} refused commit(s) logged")
        store_bytes = sum(
            p.stat().st_size for p in self.store_dir.glob(self.db.name + "*") if p.exists()
        )
        return checks.RunFigures(
            index=index,
            action=action,
            exit_code=code,
            expected_exit=EXPECTED_EXIT.get(action, 0),
            first_seq=before + 1,
            last_seq=store_seq(self.db),
            lost_line="events of this run were not stored" in text,
            peak_rss_mb=round(peak[0], 1),
            store_bytes=store_bytes,
            learned=self.learned(),
            seconds=round(time.monotonic() - started, 1),
            notes=tuple(notes),
        )

    def run(self, on_run: Callable[[checks.RunFigures], None]) -> SoakReport:
        plan, report = self.plan, self.report
        started = time.monotonic()
        self.mount_disk()
        self.write_zones()
        self.broker.start()
        events = Subscriber(self.broker.port, (f"{BASE}/events",), "soak-collector")
        stored: dict[str, int] = {}
        try:
            for index in range(plan.runs):
                last = index == plan.runs - 1
                action = "end" if last else ACTIONS[index % len(ACTIONS)]
                figures = self.run_once(index, action)
                report.runs.append(figures)
                stored.update(stored_events(self.db))
                on_run(figures)
            wait_for(lambda: set(stored) <= self._received_ids(events), 30)
            received = checks.parse_events(events.payloads(f"{BASE}/events"))
            wanted = self._wanted_retained()
            retained = retained_topics(self.broker.port, BASE)
            with sqlite3.connect(self.db) as conn:
                integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            events.close()
            self.broker.stop()
            self.unmount_disk()
        runs = report.runs
        max_store = int(plan.max_size_mb * 1e6 * 2) + 8 * 1024 * 1024
        report.failures = [
            *checks.seqs_never_reused(received, stored),
            *checks.every_committed_event_delivered(received, stored),
            *checks.every_enter_has_its_exit(received, [r.first_seq for r in runs[1:]]),
            *checks.retained_match_zones(retained, wanted),
            *checks.runs_as_expected(runs),
            *checks.bounded(runs, max_store, MAX_RSS_MB),
            *([] if integrity == "ok" else [f"integrity_check: {integrity}"]),
        ]
        report.events = len({e["id"] for e in received})
        report.simulated_s = _simulated_seconds(received, runs)
        report.seconds = time.monotonic() - started
        return report

    @staticmethod
    def _received_ids(sub: Subscriber) -> set[str]:
        return {str(json.loads(p)["id"]) for p in sub.payloads(f"{BASE}/events")}

    def _wanted_retained(self) -> set[str]:
        wanted = {f"{BASE}/availability"}
        for zone in self.zones:
            wanted.add(f"{BASE}/{CAMERA}/{zone}/state")
            wanted.add(f"homeassistant/sensor/{DEVICE}/{CAMERA}_{zone}_count/config")
            wanted.add(f"homeassistant/binary_sensor/{DEVICE}/{CAMERA}_{zone}_occupied/config")
        return wanted


def _simulated_seconds(received: list[dict[str, Any]], runs: list[checks.RunFigures]) -> float:
    """Store time covered: per run, the camera time of its last event."""
    total = 0.0
    for run in runs:
        times = [float(e["t"]) for e in received if run.first_seq <= int(e["seq"]) <= run.last_seq]
        total += max(times, default=0.0)
    return total


def run_soak(
    plan: SoakPlan, on_run: Callable[[checks.RunFigures], None] | None = None
) -> SoakReport:
    """Run the soak in a temporary folder; ``on_run`` sees each run's figures."""
    with tempfile.TemporaryDirectory(prefix="edge-app-soak-") as tmp:
        return Soak(plan, Path(tmp)).run(on_run or (lambda _r: None))


def print_run(run: checks.RunFigures) -> None:
    notes = f" ({', '.join(run.notes)})" if run.notes else ""
    print(
        f"run {run.index:3d} {run.action:8s} exit {run.exit_code:3d}  seqs "
        f"{run.first_seq}-{run.last_seq}  peak RSS {run.peak_rss_mb:6.1f} MB  store "
        f"{run.store_bytes / 1e6:5.2f} MB  learned {run.learned}  {run.seconds:5.1f} s{notes}",
        flush=True,
    )


def print_summary(report: SoakReport) -> None:
    days = report.simulated_s / 86_400
    print(
        f"soak: {len(report.runs)} runs, {report.simulated_s / 3600:.1f} h of store time "
        f"({days:.2f} days), {report.events} events, in {report.seconds:.0f} s"
    )
    for note in report.notes:
        print(f"note: {note}")
    if report.failures:
        for failure in report.failures:
            print(f"FAILED: {failure}")
    else:
        print("every promise held")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = SoakPlan()
    parser.add_argument("--runs", type=int, default=defaults.runs)
    parser.add_argument("--store-minutes", type=float, default=defaults.store_minutes)
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--people", type=int, default=defaults.people)
    parser.add_argument("--max-size-mb", type=float, default=defaults.max_size_mb)
    parser.add_argument("--disk-mb", type=int, default=defaults.disk_mb)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    plan = SoakPlan(
        args.runs, args.store_minutes, args.fps, args.seed, args.people, args.max_size_mb,
        args.disk_mb,
    )  # fmt: skip
    report = run_soak(plan, print_run)
    print_summary(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
