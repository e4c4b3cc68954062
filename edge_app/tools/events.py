"""Reading the events an edge-app store holds, without the ``sqlite3`` command.

``stored_events`` opens the SQLite file read-only (a running daemon may be writing it) and
gives the newest events' JSON, oldest first: the same JSON the daemon publishes over MQTT
(docs/events.md). ``edge-app events --store FILE`` prints them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edge_app.core.errors import ConfigError


def stored_events(path: Path, limit: int = 20, event_type: str | None = None) -> list[str]:
    """The JSON of the newest ``limit`` events (of ``event_type``, if given), oldest first.

    Raises ``ConfigError`` naming the file when it is not a readable edge-app store.
    """
    if not path.is_file():
        raise ConfigError(str(path), None, "no such store", "give the SQLite file of edge-app")
    query = "SELECT payload FROM events"
    args: list[object] = []
    if event_type is not None:
        query += " WHERE type = ?"
        args.append(event_type)
    query += " ORDER BY wall DESC, seq DESC LIMIT ?"
    args.append(limit)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            rows = conn.execute(query, args).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigError(
            str(path), None, f"cannot read events: {exc}", "is this an edge-app store?"
        ) from exc
    return [str(payload) for (payload,) in reversed(rows)]
