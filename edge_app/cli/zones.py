"""``edge-app zones edit``: draw a camera's zones on its own picture, in a browser;
``edge-app zones import``: a zone file from a DeepStream nvdsanalytics config.

The editor's server listens on 127.0.0.1 only unless ``--listen`` says otherwise (with a warning),
and every request needs the random token in the printed URL. Nothing is opened on the
network by itself: the installer opens the URL (on the device, or on a laptop through an
SSH tunnel, see docs/zone-editor.md).
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import re
import secrets
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edge_app.config import (
    AnalyticsConfig,
    AppConfig,
    BackgroundSegmenterConfig,
    CameraConfig,
    SegmenterConfig,
    load_config,
)
from edge_app.core.errors import ConfigError, EdgeAppError
from edge_app.segmentation import create_segmenter
from edge_app.zone_editor.frames import encode_jpeg, preview_source, snapshot
from edge_app.zone_editor.preview import LivePreview
from edge_app.zone_editor.reload import DEFAULT_PID_FILE, notify_daemon
from edge_app.zone_editor.server import EditorApp, EditorServer
from edge_app.zone_editor.session import EditorSession

EXIT_USAGE = 2


@dataclass(frozen=True, slots=True)
class EditTarget:
    """What an edit is about: the camera, its zone file and where its pictures come from."""

    camera_id: str
    zones_path: Path
    camera: CameraConfig | None
    video: Path | None
    segmenter: SegmenterConfig
    analytics: AnalyticsConfig


def _pick_camera(config: AppConfig, config_path: Path, camera_id: str | None) -> CameraConfig:
    ids = [c.id for c in config.cameras]
    if camera_id is None:
        if len(config.cameras) == 1:
            return config.cameras[0]
        raise ConfigError(
            str(config_path), "cameras", "has several cameras", f"give --camera, one of {ids}"
        )
    for camera in config.cameras:
        if camera.id == camera_id:
            return camera
    raise ConfigError(
        str(config_path), "cameras", f"has no camera {camera_id!r}", f"use one of {ids}"
    )


def _camera_id_for(zones_path: Path) -> str:
    """The camera id of an existing zone file, else one made from the file's name."""
    try:
        data = yaml.safe_load(zones_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        data = None  # no usable file yet: the name below will do, and Save replaces it
    camera = data.get("camera") if isinstance(data, dict) else None
    if isinstance(camera, str):
        return camera
    slug = re.sub(r"[^a-z0-9_-]+", "-", zones_path.stem.lower()).strip("-_")
    return slug or "camera"


def resolve_target(args: argparse.Namespace) -> EditTarget:
    """The camera, zone file and picture source the command line asks for."""
    if args.config is not None:
        config = load_config(args.config)
        camera = _pick_camera(config, args.config, args.camera)
        return EditTarget(
            camera.id,
            args.zones or camera.zones,
            camera,
            args.video,
            config.segmenter,
            config.analytics,
        )
    if args.video is None or args.zones is None:
        raise ConfigError(
            "(command line)",
            None,
            "nothing to edit",
            "give --config FILE --camera ID, or --video FILE --zones FILE",
        )
    return EditTarget(
        args.camera or _camera_id_for(args.zones),
        args.zones,
        None,
        args.video,
        BackgroundSegmenterConfig(),
        AnalyticsConfig(),
    )


def build_app(target: EditTarget, args: argparse.Namespace) -> EditorApp:
    """Grab the picture and set up the session and preview (the server is not started)."""
    image = snapshot(target.camera, target.video, args.frame)
    height, width = image.shape[:2]
    reloader = functools.partial(notify_daemon, args.reload_pid, args.pid_file)
    session = EditorSession(target.camera_id, target.zones_path, (width, height), reloader)
    preview = None
    if not args.no_preview:
        segmenter = target.segmenter
        preview = LivePreview(
            target.camera_id,
            preview_source(target.camera_id, target.camera, target.video),
            lambda: create_segmenter(segmenter),
            target.analytics,
            segmenter.type,
        )
    return EditorApp(session, encode_jpeg(image), secrets.token_urlsafe(24), preview)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything, so warn


def _wait_for_stop() -> None:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass  # Ctrl+C is how an installer ends the editor


def cmd_zones_edit(args: argparse.Namespace) -> int:
    target = resolve_target(args)
    app = build_app(target, args)
    try:
        server = EditorServer(app, args.listen, args.port)
    except OSError as exc:
        raise EdgeAppError(
            f"cannot listen on {args.listen}:{args.port}: {exc.strerror or exc} "
            "(choose another --port, or check --listen is an address of this machine)"
        ) from exc
    thread = threading.Thread(target=server.serve_forever, name="zone-editor", daemon=True)
    thread.start()
    try:
        where = "new file" if not target.zones_path.exists() else "existing file"
        print(f"Zone editor for camera {target.camera_id!r}: {target.zones_path} ({where})")
        print("Open this address in a browser (the token in it is needed for every request):")
        print(f"  {server.url()}", flush=True)
        if _is_loopback(args.listen):
            print(
                f"From a laptop: ssh -L {server.port}:127.0.0.1:{server.port} USER@THIS-DEVICE, "
                "then open the same address there."
            )
        else:
            print(
                f"warning: listening on {args.listen}:{server.port}: anyone who can reach this "
                "machine and learns the address can change this camera's zones, over plain "
                "HTTP. Prefer the default (127.0.0.1) and an SSH tunnel.",
                file=sys.stderr,
            )
        print("Press Ctrl+C to stop the editor.", flush=True)
        _wait_for_stop()
    finally:
        server.shutdown()
        server.server_close()
        if app.preview is not None:
            app.preview.stop()
    print("zone editor stopped", flush=True)
    return 0


def cmd_zones_import(args: argparse.Namespace) -> int:
    """Write the zone file of one nvdsanalytics stream, checked like every zone file."""
    from edge_app.config.nvdsanalytics import zones_from_nvdsanalytics
    from edge_app.config.zone_io import write_zone_file
    from edge_app.config.zone_render import render_fresh
    from edge_app.config.zones import describe_zones, parse_zones

    out: Path = args.out or Path("zones") / f"{args.camera}.yaml"
    if out.exists() and not args.force:
        raise ConfigError(
            str(out), None, "already exists", "give --force to replace it (a backup is kept)"
        )
    imported = zones_from_nvdsanalytics(args.nvdsanalytics, args.stream, args.camera)
    header = [
        f"# Zones of stream {args.stream} of {args.nvdsanalytics} (DeepStream nvdsanalytics),\n",
        "# in its config-width x config-height pixels; made by edge-app zones import.\n",
    ]
    text = render_fresh(imported.data, header)
    zones = parse_zones(yaml.safe_load(text), out)  # what is written passes edge-app check
    out.parent.mkdir(parents=True, exist_ok=True)
    backup = write_zone_file(out, text)
    print(f"wrote {out}" + (f" (the previous file is kept as {backup})" if backup else ""))
    for line in describe_zones(zones):
        print(line)
    for note in imported.notes:
        print(f"  note: {note}")
    return 0


def _register_import(actions: Any) -> None:
    p = actions.add_parser(
        "import",
        help="write a zone file from a DeepStream nvdsanalytics config (one stream's ROIs)",
    )
    p.add_argument(
        "--nvdsanalytics", type=Path, required=True, metavar="FILE", help="the nvdsanalytics config"
    )
    p.add_argument("--stream", type=int, default=0, help="its stream number (default 0)")
    p.add_argument("--camera", required=True, help="the camera id the zone file is for")
    p.add_argument("--out", type=Path, help="the zone file (default zones/CAMERA.yaml)")
    p.add_argument("--force", action="store_true", help="replace an existing file (kept as .bak)")
    p.set_defaults(func=cmd_zones_import)


def register(zones: argparse.ArgumentParser) -> None:
    """``zones edit`` and ``zones import``."""
    actions = zones.add_subparsers(dest="zones_command", metavar="ACTION")

    def usage(args: argparse.Namespace) -> int:
        zones.print_help()
        return EXIT_USAGE

    zones.set_defaults(func=usage)

    p = actions.add_parser(
        "edit",
        help="serve a local page to draw zones on the camera's picture and save the zone file",
    )
    p.add_argument("--config", type=Path, help="daemon config: camera, zone file, segmenter")
    p.add_argument("--camera", help="camera id (needed when the config has several)")
    p.add_argument("--video", type=Path, help="take the picture from this video file instead")
    p.add_argument("--zones", type=Path, help="zone file to edit or create (default: the camera's)")
    p.add_argument("--frame", type=int, default=0, help="which frame to draw on (default 0)")
    p.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDR",
        help="address to listen on (default 127.0.0.1; anything else is reachable from the "
        "network and prints a warning)",
    )
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument(
        "--pid-file",
        type=Path,
        default=None,
        help=f"the daemon's pid file, to tell it to reload after a save (default "
        f"{DEFAULT_PID_FILE})",
    )
    p.add_argument("--reload-pid", type=int, help="pid of the daemon to send SIGHUP after a save")
    p.add_argument("--no-preview", action="store_true", help="no live segmenter preview")
    p.set_defaults(func=cmd_zones_edit)
    _register_import(actions)
