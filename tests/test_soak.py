"""A month in the store, compressed (bounded to well under a minute here): the daemon is
ended, SIGKILLed, SIGTERMed, cut off from its broker, reloaded without a zone and given a
full disk, run after run, and then every promise of docs/operations.md is checked.

The soak itself is ``edge_app.tools.bench.soak`` (``edge-app bench --only soak`` runs it
longer); it runs here inside a private mount namespace (``unshare -rm``) so that it may
mount the small tmpfs its store fills. The checks are tried on broken histories first, so
a soak that passes means something.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge_app.tools.bench import soak_checks as checks
from tests.daemon_support import REPO


def event(seq: int, kind: str, track: int = 1, zone: str = "door", **extra: Any) -> dict[str, Any]:
    return {"id": f"id{seq}", "seq": seq, "type": kind, "camera": "floor", "zone": zone,
            "track_id": track, "t": float(seq), **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("received", "run_starts", "problems"),
    [
        ([event(1, "zone.enter"), event(2, "zone.exit", reason="left")], [], 0),
        # A crash: the next run (from seq 3) closes the visit first, with a restart exit.
        ([event(1, "zone.enter"), event(3, "zone.exit", reason="restart"),
          event(4, "zone.enter"), event(5, "zone.exit", reason="ended")], [3], 0),
        # The next run started without closing it.
        ([event(1, "zone.enter"), event(3, "zone.enter"), event(4, "zone.exit")], [3], 1),
        ([event(1, "zone.enter")], [], 1),  # never closed
        ([event(2, "zone.exit", reason="left")], [], 1),  # an exit of nothing
        ([event(1, "zone.enter"), event(2, "zone.enter"), event(3, "zone.exit")], [], 1),
    ],
)  # fmt: skip
def test_every_enter_has_its_exit_check(
    received: list[dict[str, Any]], run_starts: list[int], problems: int
) -> None:
    assert len(checks.every_enter_has_its_exit(received, run_starts)) == problems


def test_the_delivery_and_seq_checks_catch_what_they_must() -> None:
    received = [event(1, "zone.enter"), event(2, "zone.exit"), event(2, "zone.exit")]
    assert checks.seqs_never_reused(received, {"id1": 1, "id2": 2}) == []
    assert checks.every_committed_event_delivered(received, {"id1": 1, "id2": 2}) == []
    reused = [*received, {**event(2, "zone.exit"), "id": "other"}]
    assert checks.seqs_never_reused(reused, {}) == ["seq 2 was used by 2 events"]
    assert len(checks.every_committed_event_delivered(received, {"id9": 9})) == 1
    changed = [*received, {**event(2, "zone.exit"), "t": 99.0}]
    assert len(checks.every_committed_event_delivered(changed, {})) == 1
    assert checks.retained_match_zones({"a", "b"}, {"a", "c"}) == [
        "stale retained topic b",
        "missing retained topic c",
    ]


def test_the_run_and_bound_checks_catch_what_they_must() -> None:
    def run(i: int, code: int = 0, rss: float = 100.0, learned: bool | None = True) -> Any:
        return checks.RunFigures(i, "end", code, 0, 1, 0, False, rss, 10, learned, 1.0)

    assert checks.runs_as_expected([run(0), run(1)]) == []
    assert len(checks.runs_as_expected([run(0), run(1, code=1)])) == 1
    assert len(checks.runs_as_expected([run(0), run(1, learned=False)])) == 1
    assert checks.bounded([run(0), run(1), run(2)], 100, 500.0) == []
    assert len(checks.bounded([run(0), run(1), run(2, rss=400.0)], 100, 500.0)) == 1


@pytest.fixture(scope="module")
def unshare() -> str:
    tool = shutil.which("unshare")
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if tool is None or not Path(mosquitto).exists():
        pytest.skip("the soak needs unshare (util-linux) and mosquitto")
    probe = subprocess.run([tool, "-rm", "true"], capture_output=True, timeout=30)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces are not available: {probe.stderr.decode().strip()}")
    return tool


def test_a_month_in_the_store_compressed(
    unshare: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "soak.json"
    command = [sys.executable, "-m", "edge_app.tools.bench.soak", "--runs", "8",
               "--store-minutes", "5", "--json", str(report)]  # fmt: skip
    result = subprocess.run(
        [unshare, "-rm", *command],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO)},
    )
    figures = json.loads(report.read_text())
    assert result.returncode == 0, result.stdout + result.stderr
    assert figures["failures"] == []
    assert figures["notes"] == []  # the disk phase ran
    actions = [(r["action"], r["exit_code"]) for r in figures["runs"]]
    assert ("sigkill", -9) in actions and ("sigterm", 0) in actions
    assert {"outage", "reload", "disk"} <= {a for a, _ in actions}
    (disk,) = [r for r in figures["runs"] if r["action"] == "disk"]
    assert any("refused commit" in note for note in disk["notes"])  # the disk did fill
    assert figures["events"] > 1000
    with capsys.disabled():
        print("\n[soak] " + result.stdout.strip().splitlines()[-2])
