"""A read-only or full filesystem under the store at start: one clear error line and a
non-zero exit from the real daemon, never a traceback.

Each case runs ``python -m edge_app run`` inside a private mount namespace
(``unshare -rm``) where a tiny tmpfs is mounted read-only, or filled up, over the store's
folder; nothing outside the test's tmp folder is touched. Skips where user namespaces are
not available.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.daemon_support import REPO, make_video, write_config, write_zones

UNSHARE = shutil.which("unshare")


@pytest.fixture(scope="module")
def mount_namespace() -> str:
    if UNSHARE is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run([UNSHARE, "-rm", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not available: {probe.stderr.decode().strip()}")
    return UNSHARE


def run_daemon_over(
    unshare: str, tmp_path: Path, mount: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the daemon with its store in ``tmp_path/store``, after the shell ``mount``."""
    pytest.importorskip("onnxruntime")
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    video = make_video(tmp_path / "walk.avi", 5)
    zones = write_zones(tmp_path / "zones.yaml", "cam1", {"all": [[0, 0], [1, 0], [1, 1]]})
    config = write_config(
        tmp_path,
        [{"id": "cam1", "source": {"type": "file", "path": str(video)}, "zones": str(zones)}],
    )
    data = yaml.safe_load(config.read_text())
    data["store"]["path"] = str(store_dir / "edge.db")
    config.write_text(yaml.safe_dump(data))
    daemon = shlex.join([sys.executable, "-m", "edge_app", "run", "--config", str(config)])
    script = f"{mount.format(dir=shlex.quote(str(store_dir)))} && exec {daemon}"
    result = subprocess.run(
        [unshare, "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO)},
    )
    return result, store_dir / "edge.db"


def test_a_read_only_store_path_is_a_clear_error_and_a_non_zero_exit(
    mount_namespace: str, tmp_path: Path
) -> None:
    result, db = run_daemon_over(
        mount_namespace, tmp_path, "mount -t tmpfs -o ro,size=1m tmpfs {dir}"
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # Refused by the checks ``run`` shares with ``check``, before the store is opened.
    assert (
        f"error: {tmp_path / 'edge-app.yaml'}: store.path: the folder {db.parent} is on a "
        "read-only filesystem (set store.path to a writable place, or make the folder "
        "writable by the service user)"
    ) in result.stderr


def test_a_full_disk_under_the_store_is_a_clear_error_and_a_non_zero_exit(
    mount_namespace: str, tmp_path: Path
) -> None:
    fill = "mount -t tmpfs -o size=256k tmpfs {dir} && (cat /dev/zero > {dir}/filler || true)"
    result, db = run_daemon_over(mount_namespace, tmp_path, fill)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"error: cannot initialise the event store {db}: database or disk is full" in (
        result.stderr
    )
    assert "free space on that filesystem" in result.stderr


WRITER_ON_A_SMALL_DISK = """
import json, os, sys, time
from pathlib import Path
from edge_app.core.backoff import Backoff
from edge_app.core.events import EventStamper
from edge_app.sinks.store import EventStore
from edge_app.sinks.writer import StoreWriter
from tests.sinks_support import stamped

folder = Path(sys.argv[1])
store = EventStore.open(folder / "edge.db", "FULL")
writer = StoreWriter(store, "edge-1", 60, 1000, retry=Backoff(0.1, 0.3))
writer.start()
stamper = EventStamper("edge-1")
writer.submit(stamped(stamper, 100), [])
writer.flush(10)

def fill():
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(bytes(65536))
        except OSError:
            pass

fill()
for _ in range(20):
    writer.submit(stamped(stamper, 200), [])
full = not writer.flush(2) and writer.counters().write_errors > 0
os.unlink(folder / "filler")  # space is freed
recovered = writer.flush(60)
lost_before = writer.counters().events_lost
stored_before = store.max_seq("edge-1")
store.release_space()  # an emptied WAL: what comes next must grow it
fill()
last = [stamped(stamper, 200) for _ in range(40)]  # more than the WAL's slack
for frame in last:
    writer.submit(frame, [])
time.sleep(0.5)
writer.stop(10)
os.unlink(folder / "filler")  # room to look at what was stored
with store.engine.connect() as conn:  # which of those were stored
    ids = {row[0] for row in conn.exec_driver_sql("SELECT id FROM events")}
stored = stored_before + sum(e.id in ids for frame in last for e in frame)
print(json.dumps({"full": full, "recovered": recovered, "lost_before": lost_before,
                  "stored_before": stored_before, "lost": writer.counters().events_lost,
                  "stored": stored}))
"""


def test_a_small_disk_that_fills_and_frees_gets_every_event_and_counts_the_rest(
    mount_namespace: str, tmp_path: Path
) -> None:
    """A real 8 MB filesystem filled to the last byte under the writer, then freed."""
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    script = f"mount -t tmpfs -o size=8m tmpfs {shlex.quote(str(store_dir))} && exec " + shlex.join(
        [sys.executable, "-c", WRITER_ON_A_SMALL_DISK, str(store_dir)]
    )
    result = subprocess.run(
        [mount_namespace, "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["full"]  # the disk did refuse the commits
    assert figures["recovered"]  # once space was back, every queued event was stored
    assert figures["stored_before"] == 4100
    assert figures["lost_before"] == 0
    # Full again and stopped meanwhile: whatever did not fit is counted, never silent.
    lost = figures["lost"]
    assert lost > 0
    assert figures["stored"] - figures["stored_before"] + lost == 8000
    assert f"{lost} events of this run were not stored" in result.stderr
