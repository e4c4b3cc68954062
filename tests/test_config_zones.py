"""Config and zone-file validation: every bad input is one clear message, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge_app.cli import main
from edge_app.config import AnalyticsConfig, SecretRef, format_loc, load_config, read_yaml
from edge_app.config.zones import load_zones
from edge_app.core.errors import ConfigError
from edge_app.core.tuning import AnalyzerParams
from edge_app.pipeline.camera import analyzer_params
from tests.cli_support import run_cli

REPO = Path(__file__).resolve().parent.parent

GOOD_ZONES = {
    "camera": "entrance",
    "frame_size": [1920, 1080],
    "zones": [
        {
            "id": "checkout-1",
            "name": "Checkout lane 1",
            "polygon": [[192, 600], [672, 600], [768, 1030], [96, 1030]],
            "capacity": 3,
        },
        {"id": "door", "polygon": [[1000, 100], [1400, 100], [1400, 500]]},
    ],
}


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def zones_with(**changes: object) -> dict[str, object]:
    data = yaml.safe_load(yaml.safe_dump(GOOD_ZONES))
    for key, value in changes.items():
        if key.startswith("zone0_"):
            data["zones"][0][key.removeprefix("zone0_")] = value
        else:
            data[key] = value
    return data


def test_good_zone_file_loads(tmp_path: Path) -> None:
    zs = load_zones(write_yaml(tmp_path / "z.yaml", GOOD_ZONES))
    assert zs.camera == "entrance"
    assert [z.id for z in zs.zones] == ["checkout-1", "door"]
    assert zs.zones[1].name == "door"  # name defaults to the id
    assert zs.zones[0].capacity == 3
    # Pixels on a 1920x1080 drawing scale to a 960x540 stream of the same view.
    half = zs.polygons_px((960, 540))[0]
    assert half[0].tolist() == [96.0, 300.0]


def test_normalised_zone_points_scale_to_frame(tmp_path: Path) -> None:
    data = {"camera": "cam", "zones": [{"id": "a", "polygon": [[0, 0], [0.5, 0], [0.5, 1]]}]}
    zs = load_zones(write_yaml(tmp_path / "z.yaml", data))
    assert zs.polygons_px((640, 480))[0].tolist() == [[0, 0], [320, 0], [320, 480]]


BAD_ZONES = [
    ("missing file", None, None, "file not found"),
    ("bad yaml", "camera: [unclosed\n", "line", "YAML syntax error"),
    ("empty", "", None, "file is empty"),
    ("not a mapping", "- a\n- b\n", None, "top level must be a mapping"),
    ("unknown key", zones_with(colour="red"), "colour", "unknown key"),
    ("unknown zone key", zones_with(zone0_colour="red"), "zones[0].colour", "unknown key"),
    ("missing zones", {"camera": "a"}, "zones", "required key is missing"),
    ("empty zone list", zones_with(zones=[]), "zones", "zone list is empty"),
    ("wrong type", zones_with(zone0_capacity="many"), "zones[0].capacity", "integer"),
    ("negative capacity", zones_with(zone0_capacity=0), "zones[0].capacity", "greater"),
    ("unsafe id", zones_with(zone0_id="Check out#1"), "zones[0].id", "not a valid id"),
    ("unsafe camera", zones_with(camera="Cam/1"), "camera", "pattern"),
    ("two points", zones_with(zone0_polygon=[[0, 0], [10, 10]]), "zones[0].polygon", "2 points"),
    (
        "self intersecting",
        zones_with(zone0_polygon=[[0, 0], [100, 100], [100, 0], [0, 100]]),
        "zones[0].polygon",
        "crosses itself",
    ),
    (
        "zero area",
        zones_with(zone0_polygon=[[0, 0], [50, 50], [100, 100]]),
        "zones[0].polygon",
        "zero area",
    ),
    (
        "outside frame",
        zones_with(zone0_polygon=[[0, 0], [2000, 0], [100, 100]]),
        "zones[0].polygon[1]",
        "outside the frame",
    ),
    (
        "normalised outside",
        {"camera": "a", "zones": [{"id": "z", "polygon": [[0, 0], [1.5, 0], [1, 1]]}]},
        "zones[0].polygon[1]",
        "outside the frame",
    ),
    (
        "duplicate id",
        zones_with(zones=[GOOD_ZONES["zones"][0], GOOD_ZONES["zones"][0]]),  # type: ignore[index]
        "zones[1].id",
        "already used",
    ),
    ("not a point", zones_with(zone0_polygon=[[0, 0, 1], [1, 1], [2, 0]]), "zones[0].polygon", ""),
    ("bad frame size", zones_with(frame_size=[0, 1080]), "frame_size", "> 0"),
]


@pytest.mark.parametrize(
    ("case", "content", "field", "message"), BAD_ZONES, ids=[c[0] for c in BAD_ZONES]
)
def test_bad_zone_files(
    tmp_path: Path, case: str, content: object, field: str | None, message: str
) -> None:
    path = tmp_path / "zones.yaml"
    if content is not None:
        write_yaml(path, content)
    with pytest.raises(ConfigError) as info:
        load_zones(path)
    text = str(info.value)
    assert str(path) in text
    if field:
        assert field in text
    assert message in text


@pytest.mark.parametrize(
    ("case", "content", "field", "message"), BAD_ZONES[:6], ids=[c[0] for c in BAD_ZONES[:6]]
)
def test_check_command_reports_without_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    content: object,
    field: str | None,
    message: str,
) -> None:
    path = tmp_path / "zones.yaml"
    if content is not None:
        write_yaml(path, content)
    assert main(["check", "--zones", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err and err.count("\n") == 1


def good_config(tmp_path: Path, **changes: object) -> dict[str, object]:
    write_yaml(tmp_path / "entrance.yaml", GOOD_ZONES)
    data: dict[str, object] = {
        "device_id": "store-7",
        "cameras": [
            {
                "id": "entrance",
                "source": {"type": "file", "path": "video.mp4"},
                "zones": "entrance.yaml",
            },
        ],
    }
    data.update(changes)
    return data


def test_good_config_resolves_relative_paths(tmp_path: Path) -> None:
    cfg = load_config(write_yaml(tmp_path / "c.yaml", good_config(tmp_path)))
    cam = cfg.cameras[0]
    assert cam.zones == tmp_path / "entrance.yaml"
    assert cam.source.type == "file" and cam.source.path == tmp_path / "video.mp4"
    assert cfg.segmenter.type == "background"
    assert cfg.store.path == tmp_path / "var/edge-app.db"


def test_relative_paths_are_normalised(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    data = good_config(tmp_path / "configs", store={"path": "../var/./edge-app.db"})
    cfg = load_config(write_yaml(tmp_path / "configs" / "c.yaml", data))
    assert str(cfg.store.path) == str(tmp_path / "var" / "edge-app.db")  # no "configs/.."


BAD_CONFIGS = [
    ("unknown top key", {"colour": 1}, "colour", "unknown key"),
    ("bad device id", {"device_id": "Store 7"}, "device_id", "lowercase"),
    ("no cameras", {"cameras": []}, "cameras", "at least 1"),
    (
        "unknown source type",
        {"cameras": [{"id": "a", "source": {"type": "ftp"}, "zones": "z.yaml"}]},
        "cameras[0].source",
        "type",
    ),
    (
        "unknown source key",
        {
            "cameras": [
                {"id": "a", "source": {"type": "file", "path": "v", "speed": 2}, "zones": "z.yaml"}
            ]
        },
        "cameras[0].source.speed",
        "unknown key",
    ),
    (
        "bad rtsp url",
        {"cameras": [{"id": "a", "source": {"type": "rtsp", "url": "http://x"}, "zones": "z"}]},
        "cameras[0].source.url",
        "should match",
    ),
    (
        "usb size",
        {"cameras": [{"id": "a", "source": {"type": "usb", "width": 0}, "zones": "z.yaml"}]},
        "cameras[0].source.width",
        "greater than or equal to 1",
    ),
    (
        "unknown background key",
        {"segmenter": {"type": "background", "colour": 1}},
        "segmenter.colour",
        "unknown key",
    ),
    (
        "segmenter needs model",
        {"segmenter": {"type": "onnxruntime"}},
        "segmenter.model",
        "required key is missing",
    ),
    ("tensorrt needs a model", {"segmenter": {"type": "tensorrt"}}, "segmenter", "give onnx"),
    ("bad port", {"mqtt": {"port": 70000}}, "mqtt.port", "less than or equal"),
    ("wildcard topic", {"mqtt": {"base_topic": "shop/#"}}, "mqtt.base_topic", "must not contain"),
    (
        "duplicate cameras",
        {"cameras": [{"id": "a", "source": {"type": "synthetic"}, "zones": "z.yaml"}] * 2},
        "cameras",
        "used twice",
    ),
    ("wrong type", {"analytics": {"enter_after_s": "soon"}}, "analytics.enter_after_s", "number"),
    (
        "secret both ways",
        {"mqtt": {"password": {"env": "A", "file": "/x"}}},
        "mqtt.password",
        "exactly one",
    ),
]


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (("cameras", 0, "source", "file", "path"), "cameras[0].source.path"),
        (("cameras", 1, "source", "synthetic", "fps"), "cameras[1].source.fps"),
        (("cameras", 0, "source", "rtsp", "url"), "cameras[0].source.url"),
        (("cameras", 0, "source", "usb", "device"), "cameras[0].source.device"),
        (("cameras", 0, "source", "csi", "fps"), "cameras[0].source.fps"),
        (("cameras", 0, "source", "gstreamer"), "cameras[0].source"),
        (("segmenter", "background", "history_s"), "segmenter.history_s"),
        (("segmenter", "onnxruntime", "model"), "segmenter.model"),
        (("segmenter", "tensorrt", "onnx"), "segmenter.onnx"),
        (("segmenter", "file"), "segmenter.file"),  # a source's type is no segmenter's
        (("mqtt", "tls", "ca_file"), "mqtt.tls.ca_file"),
        ((), "(top level)"),
    ],
)
def test_error_locations_read_as_config_keys(loc: tuple[int | str, ...], field: str) -> None:
    assert format_loc(loc) == field


@pytest.mark.parametrize(
    ("case", "changes", "field", "message"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_configs(
    tmp_path: Path, case: str, changes: dict[str, object], field: str, message: str
) -> None:
    path = write_yaml(tmp_path / "c.yaml", good_config(tmp_path, **changes))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert f"{path}: {field}" in text
    assert message in text


def test_config_camera_must_match_its_zone_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = good_config(tmp_path)
    data["cameras"][0]["id"] = "backdoor"  # type: ignore[index]
    path = write_yaml(tmp_path / "c.yaml", data)
    assert main(["check", "--config", str(path)]) == 1
    assert "says 'entrance' but cameras[0] is 'backdoor'" in capsys.readouterr().err


def test_secrets_from_env_file_and_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_TEST_PW", "from-env")
    (tmp_path / "pw").write_text("from-file\n")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "mqtt").write_text("from-credential")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    assert SecretRef.model_validate("inline").resolve() == "inline"
    assert SecretRef(env="EDGE_TEST_PW").resolve() == "from-env"
    assert SecretRef(file=tmp_path / "pw").resolve() == "from-file"
    assert SecretRef(credential="mqtt").resolve() == "from-credential"
    # A secret never shows in the config's repr.
    assert "inline" not in repr(SecretRef.model_validate("inline"))
    with pytest.raises(ConfigError, match="not set"):
        SecretRef(env="EDGE_TEST_MISSING").resolve()
    with pytest.raises(ConfigError, match="cannot read secret"):
        SecretRef(file=tmp_path / "nope").resolve()


def test_shipped_example_config_and_zones_check_clean(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys,
        "check",
        "--config",
        str(REPO / "configs" / "edge-app.yaml"),
        "--zones",
        str(REPO / "zones" / "store-floor.yaml"),
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "store-floor" in result.stdout


def test_analytics_config_defaults_are_the_analytics_own() -> None:
    # An empty ``analytics:`` section gives the analyzer exactly its default tuning.
    assert analyzer_params(AnalyticsConfig()) == AnalyzerParams()
    tuned = analyzer_params(AnalyticsConfig(analysis_max_side=320, track_max_merge_s=0.0))
    assert (tuned.analysis_max_side, tuned.track_max_merge_s) == (320, 0.0)


def test_every_problem_of_a_zone_file_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "camera: entrance\nframe_size: [1920, 1080]\nzones:\n"
        "  - {id: a, polygon: [[0, 0], [100, 100], [100, 0], [0, 100]]}\n"
        "  - {id: a, polygon: [[0, 0], [3000, 0], [0, 100]]}\n"
        "  - {id: c, polygon: [[0, 0], [10, 0], [0, 10]], capacity: 0}\n"
    )
    path = write_yaml(tmp_path / "zones.yaml", text)
    result = run_cli(capsys, "check", "--zones", str(path))
    lines = result.stderr.splitlines()
    assert result.returncode == 1 and all(line.startswith(f"error: {path}: ") for line in lines)
    assert [line.split(": ")[2] for line in lines] == [
        "zones[2].capacity", "zones[0].polygon", "zones[1].id", "zones[1].polygon[1]",
    ]  # fmt: skip


def test_yaml_anchors_and_merge_keys_are_not_keys_given_twice(tmp_path: Path) -> None:
    text = "base: &base {x: 1, y: 2}\nother:\n  <<: *base\n  x: 3\nalias: *base\n"
    data = read_yaml(write_yaml(tmp_path / "a.yaml", text))
    assert data["other"] == {"x": 3, "y": 2} and data["alias"] == {"x": 1, "y": 2}
    with pytest.raises(ConfigError, match=r"other\.x: is given twice \(lines 4 and 5\)"):
        read_yaml(write_yaml(tmp_path / "b.yaml", text.replace("alias: *base\n", "  x: 4\n")))
