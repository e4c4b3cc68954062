"""Keeps what each camera has learned across restarts: its person size and its scene.

The analytics learn, per camera, how large one person is at each image row
(``edge_app.analytics.personsize``: a few dozen passers-by), and the background segmenter
learns the empty scene (``edge_app.segmentation.background``: its first seconds). Neither
does file I/O, so the daemon saves their states here when it stops and gives them back
when it starts: one JSON file per camera in a folder next to the SQLite database
(``<db>.learned/<camera>.json``), written atomically and readable by the daemon's user only
(mode 0600: the scene is a picture of the shop). A missing file is a first start; an
unreadable one is logged and ignored (what it held is simply learned again), never a
reason not to start.

Earlier versions kept the person sizes of all cameras in one file,
``<db>.person-size.json``; it is still read for a camera that has no file of its own yet.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from edge_app.core.atomic import write_atomic
from edge_app.core.errors import StoreError

log = logging.getLogger(__name__)

FORMAT = "edge-app learned state"
LEGACY_PERSON_SIZE_FORMAT = "edge-app person size"
FILE_MODE = 0o600
FOLDER_MODE = 0o700

LearnedState = dict[str, dict[str, Any]]
"""What one camera learned, by part: ``person_size``, ``background``."""


def learned_state_dir(db_path: Path) -> Path:
    """The folder of the learned states of a daemon whose database is ``db_path``."""
    return db_path.with_name(db_path.stem + ".learned")


def legacy_person_size_path(db_path: Path) -> Path:
    """Where earlier versions kept every camera's person size."""
    return db_path.with_name(db_path.stem + ".person-size.json")


class LearnedStateStore:
    """``{part: state}`` of each camera in ``folder/<camera>.json``.

    >>> import tempfile
    >>> store = LearnedStateStore(Path(tempfile.mkdtemp()) / "edge-app.learned")
    >>> store.save("door", {"person_size": {"samples": 3}, "background": None})
    >>> store.load("door")
    {'person_size': {'samples': 3}}
    >>> store.load("till")
    {}
    """

    def __init__(self, folder: Path, legacy_person_sizes: Path | None = None) -> None:
        self.folder = folder
        self.legacy_person_sizes = legacy_person_sizes

    @classmethod
    def beside(cls, db_path: Path) -> LearnedStateStore:
        """The store of a daemon whose SQLite database is ``db_path``."""
        return cls(learned_state_dir(db_path), legacy_person_size_path(db_path))

    def path(self, camera_id: str) -> Path:
        return self.folder / f"{camera_id}.json"

    def load(self, camera_id: str) -> LearnedState:
        """What the camera learned before (empty on a first start or a bad file)."""
        path = self.path(camera_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self._legacy(camera_id)
        except OSError as exc:
            log.warning("%s: cannot read (%s); camera %s learns again", path, exc, camera_id)
            return {}
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT or not isinstance(data.get("learned"), dict):
                raise ValueError("not a learned-state file")
        except (ValueError, AttributeError) as exc:
            log.warning("%s: unreadable (%s); camera %s learns again", path, exc, camera_id)
            return {}
        return {str(k): v for k, v in data["learned"].items() if isinstance(v, dict)}

    def save(self, camera_id: str, learned: dict[str, dict[str, Any] | None]) -> None:
        """Write the camera's states (parts that are ``None`` are left out); a crash
        mid-write leaves the previous file."""
        parts = {k: v for k, v in learned.items() if v is not None}
        payload = json.dumps({"format": FORMAT, "camera": camera_id, "learned": parts}) + "\n"
        path = self.path(camera_id)
        try:
            self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            write_atomic(path, payload, mode=FILE_MODE)
        except OSError as exc:
            raise StoreError(f"{path}: cannot save what camera {camera_id} learned: {exc}") from exc

    def _legacy(self, camera_id: str) -> LearnedState:
        if self.legacy_person_sizes is None or not os.path.exists(self.legacy_person_sizes):
            return {}
        try:
            data = json.loads(self.legacy_person_sizes.read_text(encoding="utf-8"))
            if data.get("format") != LEGACY_PERSON_SIZE_FORMAT:
                raise ValueError("not a person-size file")
            size = data["cameras"].get(camera_id)
        except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:
            log.warning("%s: unreadable (%s); ignored", self.legacy_person_sizes, exc)
            return {}
        return {"person_size": size} if isinstance(size, dict) else {}
