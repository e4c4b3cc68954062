"""One validation for ``check`` and ``run``: every malformed config below is refused by both,
with the same ``error:`` lines (file, field and what to do), before anything is opened;
valid configs pass both.

Each case edits a valid config (a synthetic camera, the background segmenter, MQTT off, a
store in the test's folder) and may write files beside it; ``check`` and ``run`` are run in
this process through the command line's ``main``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_app.config import load_config
from edge_app.core.errors import ConfigError
from edge_app.preflight import CHECKS, LoadedConfig, check_config
from tests.cli_support import CliResult, run_cli
from tests.daemon_support import make_video
from tests.fakes.onnx_models import bright_person_model
from tests.mqtt_broker import TlsFiles, make_tls_files

ZONES_16_9 = {
    "camera": "floor",
    "frame_size": [320, 180],
    "zones": [{"id": "till", "polygon": [[10, 10], [200, 10], [200, 170], [10, 170]]}],
}

Edit = Callable[[Path, dict[str, Any]], str | None]
"""Changes a valid config (the dict written as YAML) in the folder ``Path``; may write files
there; returns YAML text to append to the written config, or ``None``."""


@dataclass(frozen=True)
class Case:
    name: str
    edit: Edit
    file: str  # "config", or a file name in the test's folder
    field: str | None
    text: str


def valid_config(folder: Path) -> dict[str, Any]:
    (folder / "floor.yaml").write_text(yaml.safe_dump(ZONES_16_9))
    return {
        "device_id": "store-7",
        "cameras": [
            {
                "id": "floor",
                "source": {"type": "synthetic", "duration_s": 1, "fps": 5, "width": 320,
                           "height": 180, "people": 1},
                "zones": "floor.yaml",
            }
        ],
        "store": {"path": "var/edge-app.db", "synchronous": "NORMAL"},
        "mqtt": {"enabled": False},
    }  # fmt: skip


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def setting(section: str, **values: Any) -> Edit:
    """An edit that sets ``values`` in ``section`` (dotted, created when missing)."""

    def edit(_folder: Path, cfg: dict[str, Any]) -> None:
        target = cfg
        for part in section.split("."):
            target = target.setdefault(part, {})
        target.update(values)

    return edit


def mqtt(**values: Any) -> Edit:
    return setting("mqtt", enabled=True, **values)


def source(**values: Any) -> Edit:
    def edit(_folder: Path, cfg: dict[str, Any]) -> None:
        cfg["cameras"][0]["source"] = values

    return edit


def zones_text(text: str) -> Edit:
    def edit(folder: Path, _cfg: dict[str, Any]) -> None:
        write(folder, "floor.yaml", text)

    return edit


def zones_data(**changes: Any) -> Edit:
    return zones_text(yaml.safe_dump({**ZONES_16_9, **changes}))


def then(*edits: Edit) -> Edit:
    def edit(folder: Path, cfg: dict[str, Any]) -> str | None:
        texts = [e(folder, cfg) for e in edits]
        return "".join(t for t in texts if t) or None

    return edit


def append(text: str, drop: str | None = None) -> Edit:
    """Append raw YAML (for keys given twice); ``drop`` removes a section first."""

    def edit(_folder: Path, cfg: dict[str, Any]) -> str:
        if drop is not None:
            cfg.pop(drop, None)
        return text

    return edit


def in_folder(make: Callable[[Path], object], edit: Callable[[Path], Edit]) -> Edit:
    """An edit that first makes a file or folder in the test's folder."""

    def run(folder: Path, cfg: dict[str, Any]) -> str | None:
        make(folder)
        return edit(folder)(folder, cfg)

    return run


def tls(**files: str) -> Edit:
    """MQTT with TLS files from the shared test certificates (names relative to them)."""

    def edit(folder: Path, cfg: dict[str, Any]) -> None:
        given = {k: str(TLS_DIR / v) if v in TLS_NAMES else v for k, v in files.items()}
        mqtt(tls=given)(folder, cfg)

    return edit


TLS_DIR = Path("/nonexistent")  # replaced by the tls_files fixture
TLS_NAMES = {"ca.pem", "cli.pem", "cli.key", "srv.key", "other.pem"}

NVINFER = "[property]\nonnx-file=model.onnx\nlabelfile-path=labels.txt\n"


def nvinfer(text: str, labels: bool = True) -> Edit:
    def edit(folder: Path, cfg: dict[str, Any]) -> None:
        write(folder, "nv.txt", text)
        if labels:
            write(folder, "labels.txt", "background\nperson\n")
        cfg["segmenter"] = {"type": "tensorrt", "nvinfer_config": "nv.txt"}

    return edit


def video(folder: Path) -> None:
    make_video(folder / "door.avi", frames=3)  # 160x120: 4:3


CASES = [
    # --- the file itself
    Case("key twice at the top", append("store: {path: other.db}\n"), "config", "store",
         "given twice"),
    Case("key twice in a section",
         append("mqtt:\n  enabled: false\n  port: 1883\n  port: 1884\n", drop="mqtt"),
         "config", "mqtt.port", "given twice (lines"),
    Case("key twice in a zone file",
         zones_text("camera: floor\ncamera: floor\nzones:\n"
                    "  - {id: a, polygon: [[0, 0], [1, 0], [1, 1]]}\n"),
         "floor.yaml", "camera", "given twice"),
    Case("unknown key", setting("store", colour="red"), "config", "store.colour", "unknown key"),
    Case("misspelt zone key",
         zones_text("camera: floor\nzones:\n  - {id: a, polygn: [[0, 0], [1, 0], [1, 1]]}\n"),
         "floor.yaml", "zones[0].polygn", "unknown key (did you mean polygon?)"),
    Case("bad device id", lambda _f, cfg: cfg.update(device_id="Store 7"), "config",
         "device_id", "lowercase"),
    Case("bad log level", lambda _f, cfg: cfg.update(log_level="LOUD"), "config", "log_level",
         "Input should be"),
    # --- numbers
    Case("infinite interval", setting("store", sample_interval_s=float("inf")), "config",
         "store.sample_interval_s", "finite number"),
    Case("nan debounce", setting("analytics", enter_after_s=float("nan")), "config",
         "analytics.enter_after_s", "finite number"),
    Case("huge store size", setting("store", max_size_mb=1e300), "config", "store.max_size_mb",
         "less than or equal"),
    Case("huge retention", setting("store", retention_days=1e12), "config",
         "store.retention_days", "less than or equal"),
    Case("huge hang timeout", setting("daemon", hang_timeout_s=1e12), "config",
         "daemon.hang_timeout_s", "less than or equal"),
    Case("huge usb fps", source(type="usb", fps=1e9), "config", "cameras[0].source.fps",
         "less than or equal"),
    Case("zone debounce infinite",
         zones_data(zones=[{"id": "a", "polygon": [[0, 0], [9, 0], [9, 9]],
                            "exit_after_s": float("inf")}]),
         "floor.yaml", "zones[0].exit_after_s", "finite number"),
    # --- MQTT fields paho would refuse at run time
    Case("empty host", mqtt(host=""), "config", "mqtt.host", "is empty"),
    Case("blank host", mqtt(host="   "), "config", "mqtt.host", "is empty"),
    Case("host with a scheme", mqtt(host="mqtt://broker"), "config", "mqtt.host",
         "without mqtt://"),
    Case("host with a port", mqtt(host="broker:1883"), "config", "mqtt.host", "port"),
    Case("unknown placeholder", mqtt(base_topic="shop/{device}"), "config", "mqtt.base_topic",
         "{device} is not a placeholder"),
    Case("empty topic level", mqtt(base_topic="shop//edge"), "config", "mqtt.base_topic",
         "empty topic level"),
    Case("wildcard topic", mqtt(base_topic="shop/#"), "config", "mqtt.base_topic",
         "wildcards"),
    Case("broker's own topic", mqtt(base_topic="$SYS/edge"), "config", "mqtt.base_topic",
         "must not start with $"),
    Case("wildcard discovery prefix", mqtt(ha_discovery_prefix="home/+"), "config",
         "mqtt.ha_discovery_prefix", "wildcards"),
    Case("empty discovery prefix", mqtt(ha_discovery_prefix=""), "config",
         "mqtt.ha_discovery_prefix", "is empty"),
    Case("discovery prefix ends in /", mqtt(ha_discovery_prefix="homeassistant/"), "config",
         "mqtt.ha_discovery_prefix", "empty topic level"),
    Case("wildcard client id", mqtt(client_id="edge#1"), "config", "mqtt.client_id", "+ or #"),
    Case("empty client id", mqtt(client_id=""), "config", "mqtt.client_id", "is empty"),
    Case("password without username", mqtt(password="secret"), "config", "mqtt.password",
         "without mqtt.username"),
    Case("bridge password without username",
         setting("bridge", host="central.example", password="secret"), "config",
         "bridge.password", "without bridge.username"),
    # --- secrets resolve
    Case("missing password file", mqtt(username="edge", password={"file": "/nonexistent/pw"}),
         "config", "mqtt.password", "cannot read secret"),
    Case("unset environment variable", mqtt(username={"env": "EDGE_TEST_UNSET"}), "config",
         "mqtt.username", "$EDGE_TEST_UNSET: environment variable is not set"),
    Case("credential outside systemd", mqtt(username="edge", password={"credential": "mqtt"}),
         "config", "mqtt.password", "$CREDENTIALS_DIRECTORY is not set"),
    Case("camera password without username",
         source(type="rtsp", url="rtsp://192.0.2.10/s", password="secret"), "config",
         "cameras[0].source.password", "without username"),
    Case("camera secret unset",
         source(type="rtsp", url="rtsp://192.0.2.10/s", username={"env": "EDGE_TEST_UNSET"}),
         "config", "cameras[0].source.username", "not set"),
    Case("camera url with a bad port", source(type="rtsp", url="rtsp://192.0.2.10:99999/s"),
         "config", "cameras[0].source.url", "not a valid URL"),
    # --- TLS material loads
    Case("missing CA file", tls(ca_file="/nonexistent/ca.pem"), "config", "mqtt.tls.ca_file",
         "not found"),
    Case("CA file that is no certificate", in_folder(lambda f: write(f, "ca.txt", "hello\n"),
         lambda f: tls(ca_file=str(f / "ca.txt"))), "config", "mqtt.tls.ca_file",
         "cannot load the CA certificates"),
    Case("missing client certificate", tls(ca_file="ca.pem", cert_file="/nonexistent/c.pem"),
         "config", "mqtt.tls.cert_file", "not found"),
    Case("key of another certificate", tls(ca_file="ca.pem", cert_file="cli.pem",
         key_file="srv.key"), "config", "mqtt.tls.cert_file", "cannot load the client"),
    Case("key without certificate", tls(key_file="cli.key"), "config", "mqtt.tls",
         "key_file needs cert_file"),
    # --- the store
    Case("store path is a folder", in_folder(lambda f: (f / "db").mkdir(),
         lambda f: setting("store", path="db")), "config", "store.path", "is a folder"),
    Case("store folder is a file", in_folder(lambda f: write(f, "var", "x"),
         lambda f: setting("store", path="var/edge-app.db")), "config", "store.path",
         "is a file"),
    Case("store path is no database", in_folder(lambda f: write(f, "notes.db", "notes\n" * 10),
         lambda f: setting("store", path="notes.db")), "config", "store.path",
         "not an SQLite database"),
    # --- metrics
    Case("metrics host unresolvable",
         setting("daemon.metrics", enabled=True, host="no-such-host.invalid"), "config",
         "daemon.metrics.host", "cannot be resolved"),
    Case("metrics port 0", setting("daemon.metrics", enabled=True, port=0), "config",
         "daemon.metrics.port", "greater than or equal"),
    # --- cameras and zones
    Case("missing video file", source(type="file", path="nope.mp4"), "config",
         "cameras[0].source.path", "not found"),
    Case("video file that is no video", in_folder(lambda f: write(f, "fake.mp4", "text"),
         lambda f: source(type="file", path="fake.mp4")), "config", "cameras[0].source.path",
         "cannot be opened as a video"),
    Case("missing zone file", lambda _f, cfg: cfg["cameras"][0].update(zones="none.yaml"),
         "config", "cameras[0].zones", "zone file"),
    Case("zone file of another camera", zones_data(camera="door"), "floor.yaml", "camera",
         "says 'door' but cameras[0] is 'floor'"),
    Case("zones for another aspect ratio", zones_data(frame_size=[640, 480],
         zones=[{"id": "a", "polygon": [[0, 0], [90, 0], [90, 90]]}]), "floor.yaml",
         "frame_size", "drawn on a 640x480 picture"),
    Case("zones for another aspect ratio than the video",
         then(in_folder(video, lambda f: source(type="file", path="door.avi"))),
         "floor.yaml", "frame_size", "delivers 160x120 frames"),
    Case("zone outside the frame",
         zones_data(zones=[{"id": "a", "polygon": [[0, 0], [900, 0], [90, 90]]}]),
         "floor.yaml", "zones[0].polygon[1]", "outside the frame"),
    Case("gstreamer pipeline without appsink", source(type="gstreamer",
         pipeline="videotestsrc ! fakesink"), "config", "cameras[0].source", "camera floor"),
    # --- the segmenter's files
    Case("missing onnx model", setting("segmenter", type="onnxruntime", model="none.onnx"),
         "config", "segmenter.model", "ONNX model"),
    Case("missing tensorrt onnx", setting("segmenter", type="tensorrt", onnx="none.onnx"),
         "config", "segmenter.onnx", "not found"),
    Case("missing engine without onnx", setting("segmenter", type="tensorrt",
         engine="none.engine"), "config", "segmenter.engine", "not found"),
    Case("missing nvinfer file", setting("segmenter", type="tensorrt",
         nvinfer_config="nv.txt"), "config", "segmenter.nvinfer_config",
         "nvinfer config not found"),
    Case("nvinfer file without [property]", nvinfer("[other]\na=1\n"), "config",
         "segmenter.nvinfer_config", "no [property] group"),
    Case("nvinfer model missing", nvinfer(NVINFER), "nv.txt", "onnx-file", "not found"),
    Case("nvinfer labels missing", nvinfer(NVINFER, labels=False), "labels.txt", None,
         "cannot read the labels file"),
]  # fmt: skip


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tls_files: TlsFiles) -> Iterator[None]:
    monkeypatch.delenv("EDGE_TEST_UNSET", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    monkeypatch.setattr(f"{__name__}.TLS_DIR", tls_files.ca.parent)
    yield


def write_config(folder: Path, edit: Edit | None = None) -> Path:
    cfg = valid_config(folder)
    extra = edit(folder, cfg) if edit is not None else None
    path = folder / "edge-app.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False) + (extra or ""))
    return path


def error_lines(result: CliResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """``run`` in this process installs its handlers; put the test runner's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("clean_env", "keep_signal_handlers")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_and_run_refuse_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    path = write_config(tmp_path, case.edit)
    checked = run_cli(capsys, "check", "--config", str(path))
    ran = run_cli(capsys, "run", "--config", str(path))
    assert checked.returncode == ran.returncode == 1, (checked.stderr, ran.stderr)
    assert error_lines(checked) == error_lines(ran)  # exactly the same refusal
    file = str(path) if case.file == "config" else str(tmp_path / case.file)
    where = f"error: {file}: {case.field}: " if case.field else f"error: {file}: "
    matching = [line for line in error_lines(checked) if line.startswith(where)]
    assert any(case.text in line for line in matching), checked.stderr
    for result in (checked, ran):
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "var" / "edge-app.db").exists()  # nothing was opened


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.usefixtures("clean_env")
def test_every_problem_is_reported_not_only_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path,
        then(
            source(type="file", path="nope.mp4"),
            setting("store", path=str(tmp_path)),
            mqtt(username={"env": "EDGE_TEST_UNSET"}),
            append("log_level: INFO\nlog_level: DEBUG\n"),
        ),
    )
    lines = error_lines(run_cli(capsys, "check", "--config", str(path)))
    fields = [line.split(": ")[2] for line in lines]
    assert fields == ["log_level", "cameras[0].source.path", "store.path", "mqtt.username"]


def test_structure_problems_are_all_reported_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit = then(
        mqtt(host="", base_topic="a//b", client_id="x+y"),
        setting("store", max_size_mb=float("inf")),
    )
    lines = error_lines(run_cli(capsys, "check", "--config", str(write_config(tmp_path, edit))))
    assert [line.split(": ")[2] for line in lines] == [
        "store.max_size_mb", "mqtt.host", "mqtt.base_topic", "mqtt.client_id",
    ]  # fmt: skip


def valid_with_video(folder: Path, cfg: dict[str, Any]) -> None:
    make_video(folder / "door.avi", frames=10, size=(160, 90))
    cfg["cameras"][0]["source"] = {"type": "file", "path": "door.avi"}
    # Drawn on a 1920x1088 picture (an H.264 stream padded to 16-pixel rows): within 1 %.
    write(folder, "floor.yaml", yaml.safe_dump({**ZONES_16_9, "frame_size": [1920, 1088]}))


def valid_with_model(folder: Path, cfg: dict[str, Any]) -> None:
    valid_with_video(folder, cfg)
    model = bright_person_model(folder / "person.onnx", size=(16, 16))
    cfg["segmenter"] = {
        "type": "onnxruntime",
        "model": model.name,
        "intra_op_threads": 1,
        "preprocess": {"infer_dims": [3, 16, 16]},
    }
    cfg["mqtt"] = {"enabled": False, "host": "broker.local", "base_topic": "shop/{device_id}"}


VALID: list[tuple[str, Edit | None]] = [
    ("synthetic camera", None),
    ("video file, zones of the same view at another size", valid_with_video),
    ("onnx model", valid_with_model),
]


@pytest.mark.usefixtures("clean_env", "keep_signal_handlers")
@pytest.mark.parametrize(("name", "edit"), VALID, ids=[v[0] for v in VALID])
def test_valid_configs_pass_check_and_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, edit: Edit | None
) -> None:
    path = write_config(tmp_path, edit)
    checked = run_cli(capsys, "check", "--config", str(path))
    assert checked.returncode == 0, checked.stderr
    assert f"{path}: OK" in checked.stdout
    ran = run_cli(capsys, "run", "--config", str(path), "--drain-timeout", "1")
    assert ran.returncode == 0, ran.stderr
    assert error_lines(ran) == []
    assert (tmp_path / "var" / "edge-app.db").is_file()


@pytest.mark.usefixtures("clean_env")
def test_a_check_is_one_more_function(tmp_path: Path) -> None:
    """Checks are plain functions of the loaded config: ``check_config`` runs the ones it
    is given and gathers their problems after the config's own."""

    def no_friday_deploys(loaded: LoadedConfig) -> list[ConfigError]:
        return [loaded.problem("device_id", "not on a Friday")]

    path = write_config(tmp_path, setting("store", colour="red"))
    config, problems = check_config(path, (*CHECKS, no_friday_deploys))
    assert config is None and [p.field for p in problems] == ["store.colour"]

    path = write_config(tmp_path, append("log_level: INFO\nlog_level: DEBUG\n"))
    config, problems = check_config(path, (*CHECKS, no_friday_deploys))
    assert config is not None and config.log_level == "DEBUG"  # as YAML reads it
    assert [p.field for p in problems] == ["log_level", "device_id"]
    assert problems[1].problem == "not on a Friday"


def test_structure_alone_is_what_load_config_checks(tmp_path: Path) -> None:
    # The other commands (replay, eval, zones) read a config without the file checks.
    path = write_config(tmp_path, source(type="file", path="nope.mp4"))
    assert load_config(path).cameras[0].source.type == "file"
