"""Zone files written by the editor: in-place edits keep comments; atomic write and backups."""

from __future__ import annotations

import copy
import os
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_app.config.zone_io import backups_of, write_zone_file
from edge_app.config.zone_render import format_value, render_fresh, render_zone_file
from edge_app.config.zones import parse_zones
from edge_app.core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
STORE_FLOOR = (REPO / "zones" / "store-floor.yaml").read_text(encoding="utf-8")
COMMENTS = [line.strip() for line in STORE_FLOOR.splitlines() if line.strip().startswith("#")]


def _data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(STORE_FLOOR)
    return data


def _comment_before(text: str, zone_id: str) -> str:
    """The comment line right above ``- id: zone_id`` (blank lines skipped)."""
    lines = text.splitlines()
    k = next(i for i, line in enumerate(lines) if line.strip() == f"- id: {zone_id}")
    above = [line.strip() for line in lines[:k] if line.strip()]
    return above[-1]


def test_unchanged_data_gives_the_same_text() -> None:
    result = render_zone_file(_data(), STORE_FLOOR, [0, 1, 2, 3])
    assert result.comments_kept
    assert result.text == STORE_FLOOR


def test_moved_renamed_and_edited_zones_keep_their_comments() -> None:
    data = _data()
    zones = data["zones"]
    zones[0]["polygon"] = [[140, 510], [410, 510], [430, 380]]
    del zones[0]["capacity"]
    zones[0]["dwell_alert_s"] = 12.5
    zones[1]["id"] = "promotions"
    order = [2, 0, 3, 1]
    data["zones"] = [zones[i] for i in order]
    result = render_zone_file(data, STORE_FLOOR, order)

    assert result.comments_kept
    assert yaml.safe_load(result.text) == data
    parse_zones(yaml.safe_load(result.text), Path("z.yaml"))  # still a valid zone file
    assert [c for c in COMMENTS if c not in result.text] == []
    # Each zone's comment moved with it: the promotions one sits above the renamed zone.
    assert _comment_before(result.text, "promotions").startswith("# In front of the promotions")
    assert _comment_before(result.text, "entrance") == "# at the door."
    # Lines not touched by an edit are byte for byte the same, their comments included.
    assert "camera: store-floor          # camera id this file belongs to\n" in result.text
    assert "    polygon: [[140, 510], [410, 510], [430, 380]]\n" in result.text
    assert "capacity: 3" not in result.text


def test_deleted_zone_takes_its_comment_and_new_zones_follow_the_layout() -> None:
    data = _data()
    kept = data["zones"][:2] + data["zones"][3:]
    new = {"id": "till-2", "name": "Till: #2", "polygon": [[10, 10], [90, 10], [90, 60]]}
    data["zones"] = [*kept, new]
    result = render_zone_file(data, STORE_FLOOR, [0, 1, 3, None])

    assert result.comments_kept
    assert yaml.safe_load(result.text) == data
    assert "# The aisle along the back wall" not in result.text
    assert "# The queue at the till" in result.text
    assert result.text.endswith(
        "\n\n  - id: till-2\n    name: 'Till: #2'\n    polygon: [[10, 10], [90, 10], [90, 60]]\n"
    )


@pytest.mark.parametrize(
    ("original", "sources", "edit"),
    [
        # block-style polygon replaced by a flow one
        (
            "camera: a  # cam\nzones:\n- id: z\n  polygon:\n  - [0, 0]\n  - [1, 0]\n  - [1, 1]\n"
            "  # after\n",
            [0],
            {"polygon": [[0, 0], [0.5, 0], [0.5, 0.5]]},
        ),
        # normalised file (no frame_size): stays normalised, new option appended
        (
            "# head\ncamera: a\nzones:\n  - id: z\n    polygon: [[0, 0], [1, 0], [1, 1]]\n",
            [0],
            {"capacity": 4},
        ),
        # quoted name and an end-of-line comment on a changed key
        (
            'camera: a\nzones:\n  - id: z\n    name: "A: b"  # shown in HA\n'
            "    polygon: [[0, 0], [1, 0], [1, 1]]\n",
            [0],
            {"name": "Other"},
        ),
    ],
)
def test_in_place_edits_of_other_layouts(
    original: str, sources: list[int], edit: dict[str, Any]
) -> None:
    data = yaml.safe_load(original)
    data["zones"][0].update(edit)
    result = render_zone_file(data, original, sources)
    assert result.comments_kept
    assert yaml.safe_load(result.text) == data
    for line in original.splitlines():
        if line.strip().startswith("#"):
            assert line in result.text


def test_flow_style_file_is_rendered_afresh_keeping_the_opening_comments() -> None:
    original = (
        "# Entrance camera\n# drawn 2024\n"
        "{camera: a, zones: [{id: z, polygon: [[0,0],[1,0],[1,1]]}]}\n"
    )
    data = yaml.safe_load(original)
    data["zones"].append({"id": "y", "polygon": [[0, 0], [0.5, 0], [0.5, 0.5]]})
    result = render_zone_file(data, original, [0, None])
    assert not result.comments_kept
    assert result.text.startswith("# Entrance camera\n# drawn 2024\ncamera: a\nzones:\n  - id: z\n")
    assert yaml.safe_load(result.text) == data


def test_new_file_has_the_documented_shape() -> None:
    data = {
        "camera": "door",
        "frame_size": [640, 480],
        "zones": [
            {
                "id": "mat",
                "name": "Door mat",
                "polygon": [[0, 0], [10, 0], [10, 10]],
                "capacity": None,
                "exit_after_s": 2.5,
            }
        ],
    }
    result = render_zone_file(data)
    assert result.text == (
        "camera: door\nframe_size: [640, 480]\nzones:\n  - id: mat\n    name: Door mat\n"
        "    polygon: [[0, 0], [10, 0], [10, 10]]\n    exit_after_s: 2.5\n"
    )
    assert render_fresh({"camera": "a", "zones": []}) == "camera: a\nzones: []\n"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (3.0, "3"),
        (0.125, "0.125"),
        ("no", "'no'"),
        ("a: b", "'a: b'"),
        ([[1.5, 2], [3, 4.0]], "[[1.5, 2], [3, 4]]"),
        ("Entrance", "Entrance"),
    ],
)
def test_format_value(value: Any, text: str) -> None:
    assert format_value(value) == text
    assert yaml.safe_load(f"k: {text}")["k"] == value


def test_sources_must_match_the_zones() -> None:
    with pytest.raises(ValueError, match="sources has 1 entries for 4 zones"):
        render_zone_file(_data(), STORE_FLOOR, [0])


# --- writing --------------------------------------------------------------------------


def test_write_replaces_atomically_and_keeps_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    path.write_text("camera: old\n", encoding="utf-8")
    os.chmod(path, 0o640)
    backup = write_zone_file(
        path, "camera: new\n", now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    )
    assert path.read_text(encoding="utf-8") == "camera: new\n"
    assert backup == tmp_path / "door.yaml.20260102T030405Z.bak"
    assert backup.read_text(encoding="utf-8") == "camera: old\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_new_file_has_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    assert write_zone_file(path, "camera: a\n") is None
    assert path.read_text(encoding="utf-8") == "camera: a\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_only_the_newest_backups_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    path.write_text("v0\n", encoding="utf-8")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    for n in range(1, 5):
        write_zone_file(path, f"v{n}\n", keep_backups=2, now=when)  # same second: suffixed
    backups = backups_of(path)
    assert [b.read_text(encoding="utf-8") for b in backups] == ["v2\n", "v3\n"]
    assert path.read_text(encoding="utf-8") == "v4\n"


def test_unwritable_place_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write") as info:
        write_zone_file(tmp_path / "missing" / "door.yaml", "camera: a\n")
    assert info.value.file == str(tmp_path / "missing" / "door.yaml")


def test_written_text_round_trips_through_the_loader(tmp_path: Path) -> None:
    data = copy.deepcopy(_data())
    data["zones"][3]["name"] = "Checkout: lane #1 — main"
    result = render_zone_file(data, STORE_FLOOR, [0, 1, 2, 3])
    path = tmp_path / "store-floor.yaml"
    write_zone_file(path, result.text)
    from edge_app.config.zones import load_zones

    assert load_zones(path).get("checkout-1").name == "Checkout: lane #1 — main"
