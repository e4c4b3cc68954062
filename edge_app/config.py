"""The daemon's configuration: one YAML file, validated once, immutable afterwards.

Every model forbids unknown keys, so a typo is an error instead of a silently ignored
setting. Backends are chosen by a discriminated ``type:``. Relative paths are resolved
against the directory of the config file. Geometry (zone files) is loaded and checked in
``edge_app.zones``, not here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from edge_app.errors import ConfigError

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SLUG_RE = re.compile(SLUG_PATTERN)
SLUG_HELP = "use lowercase letters, digits, '-' and '_' (it becomes part of MQTT topics)"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(StrictModel):
    """A secret given inline, from an environment variable, a file or a systemd credential.

    In YAML: ``password: s3cret``, ``password: {env: MQTT_PASSWORD}``,
    ``password: {file: /etc/edge-app/mqtt-password}`` or ``password: {credential: mqtt}``
    (read from ``$CREDENTIALS_DIRECTORY``, as systemd's ``LoadCredential=`` provides).
    Resolved only when used, never logged.
    """

    value: SecretStr | None = None
    env: str | None = None
    file: Path | None = None
    credential: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_plain_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        given = [n for n in ("value", "env", "file", "credential") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of a plain value, env, file or credential")
        return self

    def resolve(self) -> str:
        """The secret's text; raises ``ConfigError`` naming where it was looked for."""
        if self.value is not None:
            return self.value.get_secret_value()
        if self.env is not None:
            text = os.environ.get(self.env)
            if text is None:
                raise ConfigError(
                    f"${self.env}",
                    None,
                    "environment variable is not set",
                    "export it or give the secret another way",
                )
            return text
        if self.credential is not None:
            directory = os.environ.get("CREDENTIALS_DIRECTORY")
            if not directory:
                raise ConfigError(
                    f"credential {self.credential!r}",
                    None,
                    "$CREDENTIALS_DIRECTORY is not set",
                    "run under systemd with LoadCredential= or use file:",
                )
            path = Path(directory) / self.credential
        else:
            assert self.file is not None  # guaranteed by _exactly_one
            path = self.file
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                str(path),
                None,
                f"cannot read secret: {exc.strerror}",
                "check the path and its permissions",
            ) from exc


# --- sources -------------------------------------------------------------------------


class FileSourceConfig(StrictModel):
    """A video file, processed once from start to end (time from its own timestamps)."""

    type: Literal["file"] = "file"
    path: Path
    loop: bool = Field(False, description="start again at the end instead of stopping")
    realtime: bool = Field(False, description="pace frames at the video's own rate")


class SyntheticSourceConfig(StrictModel):
    """A built-in synthetic shop floor with people walking and stopping, with exact truth."""

    type: Literal["synthetic"] = "synthetic"
    seed: int = 7
    duration_s: float = Field(90.0, gt=0, le=86_400)
    fps: float = Field(10.0, gt=0, le=60)
    width: int = Field(960, ge=160, le=3840)
    height: int = Field(540, ge=120, le=2160)
    people: int = Field(8, ge=0, le=64, description="how many people visit during the run")
    realtime: bool = False


class RtspSourceConfig(StrictModel):
    """An RTSP camera. Credentials are kept out of the URL and out of the logs."""

    type: Literal["rtsp"] = "rtsp"
    url: str = Field(pattern=r"^rtsps?://")
    username: SecretRef | None = None
    password: SecretRef | None = None
    transport: Literal["tcp", "udp"] = "tcp"
    codec: Literal["h264", "h265"] = Field("h264", description="the stream's video codec")
    decode: Literal["software", "jetson"] = Field(
        "software",
        description="jetson: decode on NVDEC and scale on the VIC (GStreamer, JetPack); "
        "falls back to software with a logged reason when that is not available",
    )
    latency_ms: int = Field(200, ge=0, le=10_000, description="RTSP jitter buffer")


class UsbSourceConfig(StrictModel):
    """A USB/V4L2 camera by index or device path."""

    type: Literal["usb"] = "usb"
    device: int | str = 0
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    fps: float | None = Field(None, gt=0)


class CsiSourceConfig(StrictModel):
    """A Jetson CSI camera (nvarguscamerasrc); decoded and scaled in hardware."""

    type: Literal["csi"] = "csi"
    sensor_id: int = Field(0, ge=0, le=7)
    width: int = Field(1920, ge=1)
    height: int = Field(1080, ge=1)
    fps: int = Field(30, ge=1, le=240)
    flip_method: int = Field(0, ge=0, le=7, description="nvvidconv flip-method (0 = none)")


class GStreamerSourceConfig(StrictModel):
    """A raw GStreamer pipeline ending in ``appsink`` (needs OpenCV built with GStreamer)."""

    type: Literal["gstreamer"] = "gstreamer"
    pipeline: str = Field(min_length=1)


SourceConfig = Annotated[
    FileSourceConfig
    | SyntheticSourceConfig
    | RtspSourceConfig
    | UsbSourceConfig
    | CsiSourceConfig
    | GStreamerSourceConfig,
    Field(discriminator="type"),
]


class CameraConfig(StrictModel):
    id: str = Field(pattern=SLUG_PATTERN, description="camera id; " + SLUG_HELP)
    source: SourceConfig
    zones: Path = Field(description="zone file of this camera (see zones/)")
    fps: float | None = Field(
        None, gt=0, le=120, description="processing rate; None processes every frame"
    )


# --- segmentation --------------------------------------------------------------------


class PreprocessConfig(StrictModel):
    """Input preprocessing, named and defaulted like DeepStream nvinfer for PeopleSemSegFormer.

    ``y = net_scale_factor * (x - offsets)`` per channel, ``x`` the 0..255 pixel value
    in ``model_color_format`` order (0 RGB, 1 BGR, 2 GRAY).
    """

    infer_dims: tuple[int, int, int] = Field((3, 512, 512), description="C;H;W")
    net_scale_factor: float = Field(0.007843, gt=0)
    offsets: tuple[float, ...] = (127.5, 127.5, 127.5)
    model_color_format: Literal[0, 1, 2] = 0
    maintain_aspect_ratio: bool = Field(False, description="letterbox instead of stretching")
    symmetric_padding: bool = Field(False, description="centre the letterboxed picture")
    tensor_layout: Literal["NCHW", "NHWC"] = "NCHW"

    @model_validator(mode="after")
    def _channels_agree(self) -> PreprocessConfig:
        c = self.infer_dims[0]
        if c not in (1, 3):
            raise ValueError(f"infer_dims channels must be 1 or 3, got {c}")
        if (c == 1) != (self.model_color_format == 2):
            raise ValueError("model_color_format 2 (GRAY) goes with 1 channel, 0/1 with 3")
        if len(self.offsets) not in (1, c):
            raise ValueError(f"offsets needs 1 or {c} values, got {len(self.offsets)}")
        if min(self.infer_dims[1:]) < 8:
            raise ValueError(f"infer_dims H and W must be >= 8, got {self.infer_dims[1:]}")
        return self


class OutputConfig(StrictModel):
    """How to read the model's output tensor (see ``segmentation.decode``)."""

    name: str = "output"
    form: Literal["auto", "class_map", "scores", "probability"] = "auto"
    person_class: int = Field(1, ge=0)
    threshold: float = Field(
        0.5, gt=0, lt=1, description="person probability cut for probability/score outputs"
    )
    score_type: Literal["logits", "probabilities"] = Field(
        "logits",
        description="what a 2-channel 'scores' output holds; matters only when threshold != 0.5",
    )


class BackgroundSegmenterConfig(StrictModel):
    """No model: background subtraction for static cameras and machines without accelerator."""

    type: Literal["background"] = "background"
    mask_max_side: int = Field(320, ge=64, le=1920, description="mask resolution (long side)")
    history_s: float = Field(30.0, gt=0, description="how fast the background model adapts")
    var_threshold: float = Field(16.0, gt=0)
    detect_shadows: bool = True
    shadow_threshold: float = Field(
        0.6,
        gt=0,
        lt=1,
        description=(
            "a shadow keeps at least this share of the floor's brightness; anything darker"
            " is foreground (dark shoes on a light floor). Indoor shadows are soft"
        ),
    )
    still_person_hold_s: float = Field(
        600.0, ge=0, description="keep a person who stands still in the mask this long"
    )


class OnnxSegmenterConfig(StrictModel):
    """ONNX Runtime on the CPU (or its CUDA/TensorRT providers on a GPU machine)."""

    type: Literal["onnxruntime"] = "onnxruntime"
    model: Path
    input_name: str = "input"
    output: OutputConfig = OutputConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    batch_size: int = Field(1, ge=1, le=64)
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    intra_op_threads: int = Field(0, ge=0, description="0 lets ONNX Runtime choose")


class TensorRTSegmenterConfig(StrictModel):
    """TensorRT engine on an NVIDIA GPU (Jetson); see docs/jetson.md.

    The model is given by ``onnx`` and/or ``engine``, or by a DeepStream ``nvinfer_config``
    (whose keys then override the model settings here). ``runtime: onnxruntime`` runs the
    ONNX model on ONNX Runtime's TensorRT/CUDA execution providers instead of TensorRT's
    own Python API.
    """

    type: Literal["tensorrt"] = "tensorrt"
    onnx: Path | None = None
    engine: Path | None = Field(
        None, description="serialized engine; rebuilt here from onnx when stale or corrupt"
    )
    engine_cache_dir: Path = Path("engines")
    nvinfer_config: Path | None = Field(
        None, description="DeepStream nvinfer config (+ its labels file) giving the model"
    )
    runtime: Literal["tensorrt", "onnxruntime"] = "tensorrt"
    ort_providers: tuple[Literal["tensorrt", "cuda", "cpu"], ...] = Field(
        ("tensorrt", "cuda"),
        min_length=1,
        description="ONNX Runtime execution providers in priority order (runtime: onnxruntime)",
    )
    device_id: int = Field(0, ge=0, description="CUDA device index")
    input_name: str = "input"
    output: OutputConfig = OutputConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    batch_size: int = Field(1, ge=1, le=64)
    network_mode: Literal[0, 1, 2] = Field(2, description="0 FP32, 1 INT8, 2 FP16 (as nvinfer)")
    workspace_mb: int = Field(2048, ge=64)
    calibration_dir: Path | None = Field(None, description="store frames for INT8 calibration")
    calibration_cache: Path | None = Field(
        None, description="INT8 calibration cache (read when present, written after calibrating)"
    )
    calibration_max_frames: int = Field(500, ge=1, le=100_000)

    @model_validator(mode="after")
    def _model_given(self) -> TensorRTSegmenterConfig:
        if self.nvinfer_config is not None:
            if self.onnx is not None or self.engine is not None:
                raise ValueError(
                    "give the model either in nvinfer_config or with onnx/engine, not both"
                )
        elif self.onnx is None and self.engine is None:
            raise ValueError(
                "give onnx (to build an engine), engine (a serialized one) or nvinfer_config"
            )
        if self.runtime == "onnxruntime" and self.onnx is None and self.nvinfer_config is None:
            raise ValueError("runtime onnxruntime needs the onnx model, not only an engine")
        return self


SegmenterConfig = Annotated[
    BackgroundSegmenterConfig | OnnxSegmenterConfig | TensorRTSegmenterConfig,
    Field(discriminator="type"),
]


# --- analytics -------------------------------------------------------------------------


class AnalyticsConfig(StrictModel):
    analysis_max_side: int = Field(
        160, ge=32, le=2048, description="the mask is analysed at this long side (pixels)"
    )
    min_blob_area_frac: float = Field(
        0.0004, ge=0, lt=0.5, description="smallest person blob, as a fraction of the frame"
    )
    enter_after_s: float = Field(1.0, ge=0, description="default debounce before occupied")
    exit_after_s: float = Field(2.0, ge=0, description="default debounce before free")
    track_max_gap_s: float = Field(
        1.5, ge=0, description="how long a track survives unseen (occlusions, merges)"
    )
    track_max_speed: float = Field(
        1.5, gt=0, description="fastest plausible movement, in frame heights per second"
    )
    person_size_learning: bool = Field(
        True, description="estimate people per merged blob from the learned size of one person"
    )
    track_max_merge_s: float = Field(
        3.0,
        ge=0,
        description="keep counting a tracked person merged into (or hidden behind) a "
        "neighbour's blob this long; 0 turns it off",
    )
    occupancy_event_interval_s: float = Field(
        1.0,
        ge=0,
        description="at most one zone.occupancy event per zone this often, "
        "except when the occupied state flips (always at once)",
    )


# --- sinks -----------------------------------------------------------------------------


class StoreConfig(StrictModel):
    path: Path = Path("var/edge-app.db")
    sample_interval_s: float = Field(60.0, gt=0, description="occupancy history resolution")
    retention_days: float = Field(30.0, gt=0)
    max_size_mb: float = Field(512.0, gt=0)
    synchronous: Literal["NORMAL", "FULL"] = Field(
        "FULL", description="FULL: commits survive a power cut; NORMAL: only a crash"
    )
    queue_max_frames: int = Field(
        4096, ge=16, le=1_000_000, description="frames waiting for the writer before drops"
    )
    retention_check_s: float = Field(600.0, gt=0, description="how often retention runs")


class TlsConfig(StrictModel):
    ca_file: Path | None = Field(None, description="CA bundle; None uses the system's")
    cert_file: Path | None = Field(None, description="client certificate (mutual TLS)")
    key_file: Path | None = Field(None, description="its private key, if not in cert_file")
    verify_hostname: bool = True

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate)")
        return self


class MqttConfig(StrictModel):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    base_topic: str = Field("edge-app/{device_id}", min_length=1)
    client_id: str | None = None
    username: SecretRef | None = None
    password: SecretRef | None = None
    tls: TlsConfig | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    inflight_max: int = Field(100, ge=1, le=65535)
    stats_interval_s: float = Field(30.0, gt=0)
    ha_discovery: bool = False
    ha_discovery_prefix: str = "homeassistant"
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    reconnect_min_s: float = Field(0.5, gt=0, description="first retry delay (then doubled)")
    reconnect_max_s: float = Field(30.0, gt=0, description="longest retry delay")
    state_min_interval_s: float = Field(
        1.0, ge=0, description="coverage-only state changes are published at most this often"
    )

    @field_validator("base_topic")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
            raise ValueError("must not contain + or # nor start or end with /")
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


# --- daemon ----------------------------------------------------------------------------


class MetricsConfig(StrictModel):
    """An optional Prometheus endpoint (needs the ``metrics`` extra: prometheus-client)."""

    enabled: bool = False
    host: str = Field("127.0.0.1", description="address to listen on; 0.0.0.0 for every one")
    port: int = Field(9464, ge=1, le=65535)


class DaemonConfig(StrictModel):
    """How ``edge-app run`` keeps live cameras and the pipeline healthy (see docs/operations.md)."""

    stall_timeout_s: float = Field(
        10.0, gt=0, le=600, description="a live camera silent this long is offline and reopened"
    )
    reconnect_min_s: float = Field(1.0, gt=0, description="first reconnect delay (then doubled)")
    reconnect_max_s: float = Field(60.0, gt=0, description="longest reconnect delay")
    hang_timeout_s: float = Field(
        60.0,
        gt=0,
        description="an inference batch running longer than this stops the systemd watchdog "
        "pings, so systemd restarts the daemon",
    )
    status_interval_s: float = Field(
        5.0, gt=0, le=300, description="how often health figures are refreshed and reported"
    )
    log_stats_interval_s: float = Field(
        300.0, ge=0, description="one health line in the log this often (0: never)"
    )
    metrics: MetricsConfig = MetricsConfig()

    @model_validator(mode="after")
    def _backoff_order(self) -> DaemonConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must not exceed reconnect_max_s")
        return self


class AppConfig(StrictModel):
    device_id: str = Field("edge-1", pattern=SLUG_PATTERN, description="device id; " + SLUG_HELP)
    cameras: tuple[CameraConfig, ...] = Field(min_length=1)
    segmenter: SegmenterConfig = BackgroundSegmenterConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    store: StoreConfig = StoreConfig()
    mqtt: MqttConfig = MqttConfig()
    daemon: DaemonConfig = DaemonConfig()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("cameras")
    @classmethod
    def _unique_camera_ids(cls, cameras: tuple[CameraConfig, ...]) -> tuple[CameraConfig, ...]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} is used twice")
            seen.add(cam.id)
        return cameras


# --- loading ---------------------------------------------------------------------------


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a ``ConfigError`` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(str(path), None, "file not found", "check the path") from exc
    except IsADirectoryError as exc:
        raise ConfigError(str(path), None, "is a directory", "give a YAML file") from exc
    except OSError as exc:
        raise ConfigError(
            str(path), None, f"cannot read: {exc.strerror}", "check its permissions"
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), None, "is not UTF-8 text", "save it as UTF-8") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(
            str(path),
            where,
            f"YAML syntax error: {problem}",
            "fix the indentation or quoting there",
        ) from exc


def format_loc(loc: tuple[int | str, ...]) -> str:
    """``('cameras', 0, 'source', 'file', 'path')`` -> ``cameras[0].source.path``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in (
            "file",
            "synthetic",
            "rtsp",
            "usb",
            "csi",
            "gstreamer",
            "background",
            "onnxruntime",
            "tensorrt",
        ) and out.endswith(("source", "segmenter")):
            continue  # the discriminator's branch name is noise to a user
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def validation_to_config_error(path: Path, exc: ValidationError) -> ConfigError:
    """The first validation problem as one message with the field and a fix."""
    err = exc.errors()[0]
    field = format_loc(tuple(err["loc"]))
    kind = err["type"]
    msg = str(err["msg"])
    fix: str | None = None
    if kind == "extra_forbidden":
        msg, fix = "unknown key", "remove it or check its spelling"
    elif kind == "missing":
        msg, fix = "required key is missing", "add it"
    elif kind == "union_tag_invalid":
        fix = "set type: to one of the listed values"
    elif kind == "string_pattern_mismatch":
        fix = SLUG_HELP if "id" in field else "check the format"
    elif kind.endswith("_type") or kind.endswith("_parsing"):
        fix = "give a value of the expected type"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return ConfigError(str(path), field, msg, fix)


def _resolve_paths(config: AppConfig, base: Path) -> AppConfig:
    def absolute(p: Path) -> Path:
        p = p.expanduser()
        # Lexically normalised, so logs say /srv/var/x.db rather than /srv/configs/../var/x.db.
        return Path(os.path.normpath(p if p.is_absolute() else base / p))

    cameras = []
    for cam in config.cameras:
        source = cam.source
        if isinstance(source, FileSourceConfig):
            source = source.model_copy(update={"path": absolute(source.path)})
        cameras.append(cam.model_copy(update={"zones": absolute(cam.zones), "source": source}))
    seg = config.segmenter
    if isinstance(seg, OnnxSegmenterConfig):
        seg = seg.model_copy(update={"model": absolute(seg.model)})
    elif isinstance(seg, TensorRTSegmenterConfig):
        seg = seg.model_copy(
            update={
                "onnx": absolute(seg.onnx) if seg.onnx else None,
                "engine": absolute(seg.engine) if seg.engine else None,
                "engine_cache_dir": absolute(seg.engine_cache_dir),
                "calibration_dir": absolute(seg.calibration_dir) if seg.calibration_dir else None,
                "calibration_cache": (
                    absolute(seg.calibration_cache) if seg.calibration_cache else None
                ),
                "nvinfer_config": absolute(seg.nvinfer_config) if seg.nvinfer_config else None,
            }
        )
    store = config.store.model_copy(update={"path": absolute(config.store.path)})
    mqtt = config.mqtt
    if mqtt.tls is not None:
        tls = mqtt.tls
        tls = tls.model_copy(
            update={
                "ca_file": absolute(tls.ca_file) if tls.ca_file else None,
                "cert_file": absolute(tls.cert_file) if tls.cert_file else None,
                "key_file": absolute(tls.key_file) if tls.key_file else None,
            }
        )
        mqtt = mqtt.model_copy(update={"tls": tls})
    return config.model_copy(
        update={"cameras": tuple(cameras), "segmenter": seg, "store": store, "mqtt": mqtt}
    )


def parse_config(data: Any, path: Path, base_dir: Path | None = None) -> AppConfig:
    """Validate already-loaded YAML data; ``path`` names the file in error messages."""
    if data is None:
        raise ConfigError(str(path), None, "file is empty", "see configs/edge-app.yaml")
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), None, "top level must be a mapping of keys", "see configs/edge-app.yaml"
        )
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        raise validation_to_config_error(path, exc) from exc
    return _resolve_paths(config, base_dir if base_dir is not None else path.parent)


def load_config(path: Path) -> AppConfig:
    """Load and validate a config file; relative paths in it are relative to its folder."""
    return parse_config(read_yaml(path), path, path.resolve().parent)
