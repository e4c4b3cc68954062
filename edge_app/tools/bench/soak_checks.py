"""The promises a long soak of the daemon checks, as pure functions of what it collected.

Each check returns the list of its violations (empty when the promise holds), worded for
a report: the events that arrived on MQTT, the events each run left in SQLite, what the
broker retains at the end, and the figures of each run.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One daemon run of the soak: what was done to it and what it left behind.

    ``first_seq``/``last_seq``: the seqs stored during the run (``last_seq`` < ``first_seq``
    when none); ``exit_code`` is negative for a signal; ``lost_line`` whether its log says
    events were not stored; ``peak_rss_mb`` its highest resident memory;
    ``store_bytes`` the database and WAL files after it; ``learned`` whether the learned
    person-size file held the camera after it (None before it ever did).
    """

    index: int
    action: str
    exit_code: int
    expected_exit: int
    first_seq: int
    last_seq: int
    lost_line: bool
    peak_rss_mb: float
    store_bytes: int
    learned: bool | None
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)


def parse_events(payloads: Iterable[bytes]) -> list[dict[str, Any]]:
    """The events of the MQTT messages (JSON), in arrival order."""
    return [json.loads(p) for p in payloads]


def seqs_never_reused(
    received: Sequence[Mapping[str, Any]], stored: Mapping[str, int]
) -> list[str]:
    """Every seq belongs to one event id, on MQTT and in SQLite (``stored``: id -> seq)."""
    ids_of: dict[int, set[str]] = defaultdict(set)
    for event in received:
        ids_of[int(event["seq"])].add(str(event["id"]))
    for event_id, seq in stored.items():
        ids_of[seq].add(event_id)
    return [
        f"seq {seq} was used by {len(ids)} events" for seq, ids in ids_of.items() if len(ids) > 1
    ]


def every_committed_event_delivered(
    received: Sequence[Mapping[str, Any]], stored: Mapping[str, int]
) -> list[str]:
    """Every event ever seen in SQLite arrived on MQTT; an id twice only with one payload."""
    payloads: dict[str, set[str]] = defaultdict(set)
    for event in received:
        payloads[str(event["id"])].add(json.dumps(event, sort_keys=True))
    problems = [
        f"event {i} arrived with {len(p)} different payloads"
        for i, p in payloads.items()
        if len(p) > 1
    ]
    missing = sorted((seq, i) for i, seq in stored.items() if i not in payloads)
    if missing:
        problems.append(
            f"{len(missing)} committed events never arrived "
            f"(seqs {[s for s, _ in missing[:10]]}...)"
        )
    return problems


def every_enter_has_its_exit(
    received: Sequence[Mapping[str, Any]], run_starts: Sequence[int]
) -> list[str]:
    """In seq order, each ``zone.enter`` is followed by one ``zone.exit`` of that zone and
    track before the run after it starts anything new (track ids start again with each
    run; a crash's visits are closed by ``restart`` exits at the next start), and nothing
    is open at the end. ``run_starts``: the first seq of each run after the first."""
    by_seq = {int(e["seq"]): e for e in received}
    starts = sorted(run_starts)
    problems: list[str] = []
    open_visits: dict[tuple[str, str, int], int] = {}
    boundary = 0
    for seq in sorted(by_seq):
        event = by_seq[seq]
        kind = event["type"]
        is_restart_exit = kind == "zone.exit" and event.get("reason") == "restart"
        while boundary < len(starts) and seq >= starts[boundary] and not is_restart_exit:
            if open_visits:
                problems.append(
                    f"{len(open_visits)} visit(s) still open when the run from seq "
                    f"{starts[boundary]} began, e.g. enter seq {min(open_visits.values())}"
                )
                open_visits.clear()
            boundary += 1
        if kind not in ("zone.enter", "zone.exit"):
            continue
        key = (str(event["camera"]), str(event["zone"]), int(event["track_id"]))
        if kind == "zone.enter":
            if key in open_visits:
                problems.append(
                    f"enter seq {seq} while the visit of seq {open_visits[key]} is open"
                )
            open_visits[key] = seq
        elif open_visits.pop(key, None) is None:
            problems.append(f"exit seq {seq} ({event.get('reason')}) closes no open visit")
    if open_visits:
        problems.append(
            f"{len(open_visits)} visit(s) never closed, e.g. enter seq {min(open_visits.values())}"
        )
    return problems


def retained_match_zones(retained: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """The broker retains exactly the current zones' state topics and discovery configs."""
    have, want = set(retained), set(wanted)
    problems = [f"stale retained topic {t}" for t in sorted(have - want)]
    problems += [f"missing retained topic {t}" for t in sorted(want - have)]
    return problems


def runs_as_expected(runs: Sequence[RunFigures]) -> list[str]:
    """Each run exited as its action should, lost no event, kept the learned state."""
    problems = []
    learned_once = False
    for run in runs:
        if run.exit_code != run.expected_exit:
            problems.append(
                f"run {run.index} ({run.action}) exited {run.exit_code}, not {run.expected_exit}"
            )
        if run.lost_line:
            problems.append(f"run {run.index} ({run.action}) lost events")
        if learned_once and run.learned is False:
            problems.append(f"run {run.index} ({run.action}) left the learned person size empty")
        learned_once = learned_once or bool(run.learned)
    return problems


def bounded(runs: Sequence[RunFigures], max_store_bytes: int, max_rss_mb: float) -> list[str]:
    """Memory and the database stay under their bounds, and memory does not creep up."""
    problems = [
        f"run {r.index}: store {r.store_bytes / 1e6:.1f} MB over {max_store_bytes / 1e6:.1f} MB"
        for r in runs
        if r.store_bytes > max_store_bytes
    ]
    problems += [
        f"run {r.index}: peak RSS {r.peak_rss_mb:.0f} MB over {max_rss_mb:.0f} MB"
        for r in runs
        if r.peak_rss_mb > max_rss_mb
    ]
    third = max(1, len(runs) // 3)
    early = max((r.peak_rss_mb for r in runs[:third]), default=0.0)
    late = max((r.peak_rss_mb for r in runs[-third:]), default=0.0)
    if early and late > early * 1.25 + 20:
        problems.append(f"peak RSS crept from {early:.0f} MB to {late:.0f} MB")
    return problems
