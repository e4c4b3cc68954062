"""The editor's session: what the page loads, and checks and saves as `edge-app check` sees them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_app.config.zone_io import backups_of
from edge_app.config.zones import load_zones
from edge_app.core.errors import ConfigError
from edge_app.zone_editor.reload import ReloadResult
from edge_app.zone_editor.session import (
    CheckResult,
    ConflictError,
    DraftError,
    EditorSession,
    SaveResult,
)

REPO = Path(__file__).resolve().parent.parent
BOW_TIE = [[10, 10], [100, 100], [100, 10], [10, 100]]


class Reloads:
    """Counts the reload requests a session makes after saving."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> ReloadResult:
        self.calls += 1
        return ReloadResult(False, "no running edge-app found")


def _session(path: Path, camera: str = "store-floor", size: tuple[int, int] = (960, 540)) -> Any:
    reloads = Reloads()
    return EditorSession(camera, path, size, reloads), reloads


def _zone(zone_id: str, polygon: list[list[float]], source: int | None = None, **opts: Any) -> Any:
    return {"source": source, "id": zone_id, "name": None, "polygon": polygon, **opts}


@pytest.fixture
def store_floor(tmp_path: Path) -> Path:
    path = tmp_path / "store-floor.yaml"
    shutil.copy(REPO / "zones" / "store-floor.yaml", path)
    return path


def test_state_of_an_existing_file(store_floor: Path) -> None:
    session, _ = _session(store_floor)
    state = session.state()
    assert state["exists"] is True
    assert state["units"] == {"width": 960, "height": 540, "pixels": True}
    assert [z["id"] for z in state["zones"]] == [
        "entrance",
        "shelf-left",
        "shelf-back",
        "checkout-1",
    ]
    assert state["zones"][0]["polygon"] == [[135, 513], [417, 513], [433, 375], [223, 375]]
    assert state["zones"][0]["capacity"] == 3 and state["zones"][0]["source"] == 0
    assert state["check"]["ok"] is True


def test_state_of_a_new_file_takes_the_picture_size(tmp_path: Path) -> None:
    session, _ = _session(tmp_path / "door.yaml", "door", (640, 480))
    state = session.state()
    assert state["exists"] is False and state["zones"] == [] and state["check"] is None
    assert state["units"] == {"width": 640, "height": 480, "pixels": True}


def test_state_of_an_invalid_file_shows_checks_message(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    path.write_text(
        f"camera: door\nframe_size: [640, 480]\nzones:\n  - id: x\n    polygon: {BOW_TIE}\n"
    )
    session, _ = _session(path, "door", (640, 480))
    state = session.state()
    with pytest.raises(ConfigError) as expected:
        load_zones(path)
    assert state["check"]["ok"] is False
    assert state["check"]["message"] == str(expected.value)
    assert "crosses itself" in state["check"]["message"]
    assert state["check"]["zone_index"] == 0
    assert state["zones"][0]["polygon"] == BOW_TIE  # still drawn, so it can be fixed


def test_check_gives_the_same_message_as_edge_app_check(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    session, _ = _session(path, "door", (640, 480))
    draft = {"zones": [_zone("mat", [[0, 0], [50, 0], [50, 50]]), _zone("bad", BOW_TIE)]}
    result = session.check(draft)
    # The same zones written by hand and checked with the loader give the same text.
    path.write_text(
        "camera: door\nframe_size: [640, 480]\nzones:\n"
        "  - {id: mat, polygon: [[0, 0], [50, 0], [50, 50]]}\n"
        f"  - {{id: bad, polygon: {BOW_TIE}}}\n"
    )
    with pytest.raises(ConfigError) as expected:
        load_zones(path)
    assert result == CheckResult(False, str(expected.value), "zones[1].polygon", 1)


@pytest.mark.parametrize(
    ("zone", "problem"),
    [
        (_zone("x", [[0, 0], [10, 10]]), "has 2 points (a polygon needs at least 3 points)"),
        (_zone("x", [[0, 0], [10, 0], [700, 10]]), "is outside the frame"),
        (_zone("Bad Id", [[0, 0], [10, 0], [10, 10]]), "is not a valid id"),
        (_zone("x", [[0, 0], [10, 0], [10, 10]], capacity=0), "greater than or equal to 1"),
        (_zone("x", [[0, 0], [10, 0], [10, 10]], dwell_alert_s=-1), "greater than 0"),
    ],
)
def test_check_reports_bad_zones(tmp_path: Path, zone: Any, problem: str) -> None:
    session, _ = _session(tmp_path / "door.yaml", "door", (640, 480))
    result = session.check({"zones": [zone]})
    assert not result.ok
    assert problem in result.message
    assert result.zone_index == 0


def test_save_writes_a_file_check_accepts_and_asks_for_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    session, reloads = _session(path, "door", (640, 480))
    draft = {"zones": [_zone("mat", [[10, 400], [300, 400], [300, 470]], capacity=2)]}
    result = session.save(draft)
    assert isinstance(result, SaveResult)
    assert yaml.safe_load(path.read_text()) == {
        "camera": "door",
        "frame_size": [640, 480],
        "zones": [{"id": "mat", "polygon": [[10, 400], [300, 400], [300, 470]], "capacity": 2}],
    }
    assert load_zones(path).get("mat").capacity == 2
    assert result.backup is None and reloads.calls == 1
    assert result.reload.message == "no running edge-app found"
    # The next save edits the new file: its zones now come from it.
    state = session.state()
    assert state["zones"][0]["source"] == 0
    again = session.save({"zones": [dict(state["zones"][0], name="Door mat")]})
    assert isinstance(again, SaveResult) and again.backup is not None
    assert again.backup.read_text() == result_text(result)
    assert load_zones(path).get("mat").name == "Door mat"


def result_text(result: SaveResult) -> str:
    """The text the first save wrote, as kept in the backup the second save made."""
    return "camera: door\nframe_size: [640, 480]\nzones:\n  - id: mat\n" + (
        "    polygon: [[10, 400], [300, 400], [300, 470]]\n    capacity: 2\n"
    )


def test_invalid_save_writes_nothing(store_floor: Path) -> None:
    before = store_floor.read_text()
    session, reloads = _session(store_floor)
    state = session.state()
    zones = state["zones"]
    zones[1]["polygon"] = BOW_TIE
    result = session.save({"zones": zones})
    assert isinstance(result, CheckResult) and not result.ok
    assert result.zone_index == 1 and "crosses itself" in result.message
    assert store_floor.read_text() == before
    assert backups_of(store_floor) == [] and reloads.calls == 0


def test_save_keeps_the_files_comments(store_floor: Path) -> None:
    session, _ = _session(store_floor)
    zones = session.state()["zones"]
    zones[3]["polygon"][0] = [400, 380]
    zones[1]["id"] = "promotions"
    result = session.save({"zones": zones})
    assert isinstance(result, SaveResult) and result.comments_kept
    text = store_floor.read_text()
    assert "# The queue at the till" in text and "  - id: promotions\n" in text
    assert "polygon: [[400, 380], [910, 383], [827, 304], [413, 304]]" in text
    assert len(backups_of(store_floor)) == 1


def test_normalised_files_stay_normalised(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    path.write_text(
        "camera: door\nzones:\n  - id: mat\n    polygon: [[0, 0.5], [1, 0.5], [1, 1]]\n"
    )
    session, _ = _session(path, "door", (640, 480))
    state = session.state()
    assert state["units"] == {"width": 1, "height": 1, "pixels": False}
    zones = state["zones"]
    zones[0]["polygon"][0] = [0.25, 0.5]
    assert isinstance(session.save({"zones": zones}), SaveResult)
    assert "frame_size" not in yaml.safe_load(path.read_text())
    assert load_zones(path).get("mat").polygon[0] == (0.25, 0.5)


def test_a_file_changed_behind_the_editors_back_is_not_overwritten(store_floor: Path) -> None:
    session, _ = _session(store_floor)
    zones = session.state()["zones"]
    store_floor.write_text(store_floor.read_text() + "# edited by hand\n")
    with pytest.raises(ConflictError, match="changed by something else"):
        session.save({"zones": zones})
    assert store_floor.read_text().endswith("# edited by hand\n")


@pytest.mark.parametrize(
    ("draft", "problem"),
    [
        ([], "a draft is an object"),
        ({"zones": "x"}, "a draft is an object"),
        ({"zones": [1]}, "is not an object"),
        ({"zones": [{"id": "a", "polygon": [[0, "x"]]}]}, r"list of \[x, y\] numbers"),
        ({"zones": [{"id": "a", "polygon": [], "colour": "red"}]}, "unknown keys"),
    ],
)
def test_malformed_drafts_are_refused(tmp_path: Path, draft: Any, problem: str) -> None:
    session, _ = _session(tmp_path / "door.yaml", "door")
    with pytest.raises(DraftError, match=problem):
        session.check(draft)
