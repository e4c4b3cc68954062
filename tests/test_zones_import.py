"""``edge-app zones import --nvdsanalytics``: a DeepStream user's regions as a zone file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_app.cli import main
from edge_app.config.nvdsanalytics import zones_from_nvdsanalytics
from edge_app.config.zones import load_zones
from edge_app.core.errors import ConfigError

# The keys and values of deepstream_tao_apps' configs/app/config_nvdsanalytics.txt (its
# overcrowding group enabled here, with a time threshold), plus a second stream.
NVDSANALYTICS = """\
[property]
enable=1
config-width=1920
config-height=1080
osd-mode=2
display-font-size=12

[roi-filtering-stream-0]
enable=1
roi-RF=1090;100;1640;100;1640;700;1090;700
inverse-roi=0
class-id=0

[overcrowding-stream-0]
enable=1
roi-OC=295;643;579;634;642;913;56;828
object-threshold=3
time-threshold=2000
class-id=0

[line-crossing-stream-0]
enable=1
line-crossing-EntryTop=1300;150;1300;400;1090;300;1640;300
class-id=0
extended=0
mode=strict

[direction-detection-stream-0]
enable=1
direction-EntryBottom=1320;900;1320;600
class-id=0
mode=strict

[roi-filtering-stream-1]
enable=1
roi-Checkout Lane=100;100;500;100;500;400;100;400
roi-Door=600;100;900;100;900;400;600;400
class-id=-1

[overcrowding-stream-1]
enable=1
roi-Checkout=100;100;500;100;500;400;100;400
object-threshold=5
class-id=-1
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config_nvdsanalytics.txt"
    path.write_text(NVDSANALYTICS)
    return path


def test_stream_0_gives_its_roi_and_its_crowd_zone(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "zones" / "entrance.yaml"
    assert main(["zones", "import", "--nvdsanalytics", str(config), "--camera", "entrance",
                 "--out", str(out)]) == 0  # fmt: skip
    zones = load_zones(out)  # the same checks as every zone file
    assert zones.camera == "entrance" and zones.frame_size == (1920, 1080)
    rf, oc = zones.zones
    assert (rf.id, rf.name, rf.capacity) == ("rf", "RF", None)
    assert rf.polygon == ((1090, 100), (1640, 100), (1640, 700), (1090, 700))
    # object-threshold=3 is a crowd at 3 people; edge-app alerts above its capacity: 2.
    assert (oc.id, oc.capacity, oc.enter_after_s) == ("oc", 2, 2.0)
    assert oc.polygon == ((295, 643), (579, 634), (642, 913), (56, 828))
    assert out.read_text().startswith("# Zones of stream 0 of ")


def test_what_has_no_equivalent_is_reported(config: Path) -> None:
    notes = zones_from_nvdsanalytics(config, 0, "entrance").notes
    assert any("[line-crossing-stream-0] has no zone equivalent" in n for n in notes)
    assert any("[direction-detection-stream-0] has no zone equivalent" in n for n in notes)
    assert any("time-threshold=2000 ms became enter_after_s: 2" in n for n in notes)


def test_a_crowd_roi_on_a_filtering_roi_sets_that_zones_capacity(config: Path) -> None:
    data = zones_from_nvdsanalytics(config, 1, "till").data
    assert [z["id"] for z in data["zones"]] == ["checkout-lane", "door"]
    assert data["zones"][0]["capacity"] == 4 and "capacity" not in data["zones"][1]


def test_the_command_prints_the_zones_and_notes(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "till.yaml"
    args = ["zones", "import", "--nvdsanalytics", str(config), "--stream", "1"]
    assert main([*args, "--camera", "till", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "checkout-lane" in printed
    assert main([*args, "--camera", "till", "--out", str(out)]) == 1  # no silent overwrite
    assert "already exists (give --force" in capsys.readouterr().err
    assert main([*args, "--camera", "till", "--out", str(out), "--force"]) == 0
    assert "the previous file is kept as" in capsys.readouterr().out
    assert yaml.safe_load(out.read_text())["camera"] == "till"


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (("config-width=1920\n", ""), "[property] config-width", "is missing"),
        (("roi-RF=1090;100;1640;100;1640;700;1090;700", "roi-RF=1090;100;1640"),
         "[roi-filtering-stream-0] roi-RF", "has 3 numbers, not x;y pairs"),
        (("object-threshold=3", "object-threshold=many"),
         "[overcrowding-stream-0] object-threshold", "expected an integer"),
    ],
)  # fmt: skip
def test_bad_values_name_the_group_and_key(
    tmp_path: Path, edit: tuple[str, str], field: str, problem: str
) -> None:
    path = tmp_path / "nvdsanalytics.txt"
    path.write_text(NVDSANALYTICS.replace(*edit))
    with pytest.raises(ConfigError) as err:
        zones_from_nvdsanalytics(path, 0, "cam")
    assert err.value.file == str(path) and err.value.field == field
    assert problem in err.value.problem


def test_zones_outside_the_frame_fail_like_every_zone_file(tmp_path: Path) -> None:
    path = tmp_path / "nvdsanalytics.txt"
    path.write_text(NVDSANALYTICS.replace("config-width=1920", "config-width=640"))
    assert main(["zones", "import", "--nvdsanalytics", str(path), "--camera", "cam",
                 "--out", str(tmp_path / "cam.yaml")]) == 1  # fmt: skip
    assert not (tmp_path / "cam.yaml").exists()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("inverse-roi=0", "inverse-roi=1"), "inverse-roi=1 counts objects outside"),
        (("[roi-filtering-stream-0]\nenable=1", "[roi-filtering-stream-0]\nenable=0"),
         "[roi-filtering-stream-0] is disabled"),
    ],
)  # fmt: skip
def test_roi_groups_with_no_zone_meaning_are_left_out_and_said(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    path = tmp_path / "nvdsanalytics.txt"
    path.write_text(NVDSANALYTICS.replace(*edit))
    imported = zones_from_nvdsanalytics(path, 0, "cam")
    assert [z["id"] for z in imported.data["zones"]] == ["oc"]
    assert any(message in n for n in imported.notes)


def test_a_stream_without_regions_is_an_error(config: Path) -> None:
    with pytest.raises(ConfigError, match="stream 7 has no enabled roi-NAME"):
        zones_from_nvdsanalytics(config, 7, "cam")
