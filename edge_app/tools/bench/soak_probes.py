"""What the soak (``tools/bench/soak.py``) reads of a daemon from outside: the store's
highest seq and its events (SQLite, read-only), a process's resident memory sampled in a
thread, and a wait for a condition.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def store_seq(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        try:
            value = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
            mark = conn.execute("SELECT max(last_seq) FROM device_seqs").fetchone()[0]
        except sqlite3.OperationalError:
            return 0
    return max(int(value or 0), int(mark or 0))


def stored_events(db: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return {str(i): int(s) for i, s in conn.execute("SELECT id, seq FROM events")}


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def sampling_rss(pid: int) -> Iterator[list[float]]:
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], rss_mb(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join(2)


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
