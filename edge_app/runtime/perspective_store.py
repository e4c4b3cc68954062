"""Keeps each camera's learned person size (perspective) across restarts.

The analytics learn, per camera, how large one person is at each image row
(``edge_app.analytics.personsize``); it takes a few dozen isolated passers-by. The
analytics do no file I/O, so the daemon saves their state here when it stops and gives it
back when it starts: one small JSON file next to the SQLite database, written atomically,
mode 0600. A missing file is a first start; an unreadable one is logged and ignored (the
model is simply learned again), never a reason not to start.

Only what a run learned is saved (``update``): the cameras that analysed frames replace
their entries, every other camera keeps its own, and a run that analysed nothing (a
refused start, a camera that never opened) leaves the file as it was.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from edge_app.core.atomic import PRIVATE, write_atomic
from edge_app.core.errors import StoreError

log = logging.getLogger(__name__)

FORMAT = "edge-app person size"


def perspective_path(db_path: Path) -> Path:
    """Where the person-size state of a daemon whose database is ``db_path`` lives."""
    return db_path.with_name(db_path.stem + ".person-size.json")


class PerspectiveStore:
    """``{camera id: PersonSize.state()}`` in one JSON file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            log.warning("%s: cannot read (%s); person size is learned again", self.path, exc)
            return {}
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or not isinstance(data.get("cameras"), dict):
                raise ValueError("not a person-size file")
        except (ValueError, AttributeError) as exc:
            log.warning("%s: unreadable (%s); person size is learned again", self.path, exc)
            return {}
        return {str(k): v for k, v in data["cameras"].items() if isinstance(v, dict)}

    def update(self, learned: dict[str, dict[str, Any]]) -> bool:
        """Save the states ``learned`` in this run over those cameras' entries, keeping
        the others; nothing is written when ``learned`` is empty. True when written."""
        if not learned:
            return False
        self.save({**self.load(), **learned})
        return True

    def save(self, states: dict[str, dict[str, Any]]) -> None:
        """Write all cameras' states (mode 0600); a crash mid-write leaves the previous
        file."""
        payload = json.dumps({"format": FORMAT, "cameras": states}, indent=1) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, payload, PRIVATE)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot save the learned person size: {exc}") from exc
