"""The editor's web server on 127.0.0.1: the token guards everything; the API round trips."""

from __future__ import annotations

import argparse
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from edge_app.cli.zones import _is_loopback, resolve_target
from edge_app.core.errors import ConfigError
from edge_app.zone_editor.frames import encode_jpeg
from edge_app.zone_editor.guard import host_allowed
from edge_app.zone_editor.reload import ReloadResult
from edge_app.zone_editor.server import EditorApp, EditorServer
from edge_app.zone_editor.session import EditorSession

TOKEN = "test-token-0123456789"
SQUARE = [[100, 100], [300, 100], [300, 300], [100, 300]]


@pytest.fixture
def editor(tmp_path: Path) -> Iterator[EditorServer]:
    image = np.full((360, 640, 3), 90, np.uint8)
    session = EditorSession(
        "door", tmp_path / "door.yaml", (640, 360), lambda: ReloadResult(False, "no daemon")
    )
    server = EditorServer(EditorApp(session, encode_jpeg(image), TOKEN), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def call(
    server: EditorServer,
    path: str,
    body: Any = None,
    token: str | None = TOKEN,
    raw: bytes | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=data)
    if token is not None:
        request.add_header("X-Token", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


@pytest.mark.parametrize(
    "path", ["/", "/api/state", "/api/frame.jpg", "/static/editor.js", "/api/preview", "/nope"]
)
@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
def test_every_request_without_the_token_is_forbidden(
    editor: EditorServer, path: str, token: str | None
) -> None:
    status, body, _ = call(editor, path, token=token)
    assert status == 403
    assert TOKEN.encode() not in body


def test_post_without_the_token_writes_nothing(editor: EditorServer) -> None:
    draft = {"zones": [{"id": "mat", "polygon": SQUARE}]}
    status, _, _ = call(editor, "/api/save", draft, token="wrong")
    assert status == 403
    assert not editor.app.session.path.exists()


def test_the_page_and_its_assets_with_the_token_in_the_url(editor: EditorServer) -> None:
    url = editor.url()
    assert url == f"http://127.0.0.1:{editor.port}/?token={TOKEN}"
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
        headers = response.headers
    assert f'src="/static/editor.js?token={TOKEN}"' in page
    assert headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, script, head = call(editor, f"/static/editor.js?token={TOKEN}", token=None)
    assert status == 200 and b"function save" in script
    assert head["Content-Type"].startswith("text/javascript")
    status, picture, _ = call(editor, "/api/frame.jpg")
    decoded = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
    assert status == 200 and decoded.shape == (360, 640, 3)


def test_state_check_and_save(editor: EditorServer) -> None:
    status, body, _ = call(editor, "/api/state")
    state = json.loads(body)
    assert status == 200
    assert state["camera"] == "door" and state["image"] == {"width": 640, "height": 360}
    assert state["preview"] == {"available": False, "segmenter": None}

    bad = {"zones": [{"id": "mat", "polygon": [[0, 0], [10, 10], [10, 0], [0, 10]]}]}
    status, body, _ = call(editor, "/api/check", bad)
    assert status == 200 and json.loads(body)["ok"] is False

    status, body, _ = call(editor, "/api/save", bad)
    answer = json.loads(body)
    assert status == 422 and answer["zone_index"] == 0
    assert answer["message"].endswith(
        "zones[0].polygon: zone 'mat' crosses itself "
        "(order the corners around the edge so no two sides cross)"
    )
    assert not editor.app.session.path.exists()

    good = {"zones": [{"id": "mat", "name": "Door mat", "polygon": SQUARE}]}
    status, body, _ = call(editor, "/api/save", good)
    answer = json.loads(body)
    assert status == 200 and answer["ok"] is True
    assert answer["message"] == f"Saved {editor.app.session.path}."
    assert answer["reload"] == {"signalled": False, "message": "no daemon"}
    assert answer["state"]["zones"][0]["source"] == 0
    saved = yaml.safe_load(editor.app.session.path.read_text())
    assert saved["zones"] == [{"id": "mat", "name": "Door mat", "polygon": SQUARE}]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(b"{not json", "not JSON"), (b"[1, 2]", "must be a JSON object"), (b"{}", "a draft is")],
)
def test_malformed_requests_are_400(editor: EditorServer, raw: bytes, problem: str) -> None:
    status, body, _ = call(editor, "/api/save", raw=raw)
    assert status == 400 and problem in json.loads(body)["message"]


def raw_request(server: EditorServer, head: str, body: bytes = b"", close: bool = False) -> bytes:
    """Send ``head`` (request line and headers, ``{port}`` and ``{token}`` filled in) and
    ``body`` over a plain socket; the answer. The socket stays open for writing unless
    ``close``, so a server that read to the end of the stream would never answer (the
    socket's timeout then fails the test)."""
    text = head.format(port=server.port, token=TOKEN).replace("\n", "\r\n") + "\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(text.encode("latin-1") + body)
        if close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return True


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


POST = "POST /api/check HTTP/1.1\nHost: 127.0.0.1:{port}\nX-Token: {token}\n"
DRAFT = json.dumps({"zones": [{"id": "mat", "polygon": SQUARE}]}).encode()
DEEP: object = [0]
for _ in range(32):
    DEEP = [DEEP]
NESTED = json.dumps({"zones": [{"id": "mat", "polygon": DEEP}]}).encode()


@pytest.mark.parametrize(
    ("head", "body", "status", "says"),
    [
        (POST + "Content-Length: -1\n", b"{}", 400, "is not a number of bytes"),
        (POST + "Content-Length: many\n", b"{}", 400, "is not a number of bytes"),
        (POST + "Content-Length: 1e3\n", b"{}", 400, "is not a number of bytes"),
        (POST + "Content-Length: \u00b2\n", b"{}", 400, "is not a number of bytes"),
        (POST + "Content-Length: 2000000\n", b"{}", 413, "over 1000000 bytes"),
        (POST + "Content-Length: 99999999999999999999999\n", b"{}", 413, "over"),
        (POST + "Content-Length: 2\nContent-Length: 3\n", b"{}", 400, "given twice"),
        (POST + "Transfer-Encoding: chunked\n", b"2\r\n{}\r\n0\r\n\r\n", 411, "Content-Length"),
        (POST + "Content-Length: 400000\n", b"[" * 400_000, 400, "nests deeper than 32"),
        (POST + f"Content-Length: {len(NESTED)}\n", NESTED, 400, "nests deeper than 32"),
        (POST.replace("127.0.0.1:{port}", "evil.example:{port}") + "Content-Length: 2\n", b"{}",
         421, "misdirected"),
        (POST.replace("127.0.0.1:{port}", "127.0.0.1:1") + "Content-Length: 2\n", b"{}", 421,
         "misdirected"),
        (POST.replace("Host: 127.0.0.1:{port}\n", "") + "Content-Length: 2\n", b"{}", 421,
         "misdirected"),
        (POST + "Origin: http://evil.example\nContent-Length: 2\n", b"{}", 403, "another site"),
        (POST + "Origin: null\nContent-Length: 2\n", b"{}", 403, "another site"),
        (POST + "Origin: http://127.0.0.1:1\nContent-Length: 2\n", b"{}", 403, "another site"),
        (POST + "Origin: https://127.0.0.1:{port}\nContent-Length: 2\n", b"{}", 403,
         "another site"),
    ],
    ids=[
        "length -1", "length not a number", "length 1e3", "length in superscript",
        "length over the limit", "length huge", "two lengths", "chunked", "nested arrays",
        "nested within a draft", "rebound host name", "another port", "no host",
        "another site", "null origin", "another port's origin", "https origin",
    ],
)  # fmt: skip
def test_bad_requests_are_answered_4xx_without_reading_on(
    editor: EditorServer,
    capsys: pytest.CaptureFixture[str],
    head: str,
    body: bytes,
    status: int,
    says: str,
) -> None:
    answer = raw_request(editor, head, body)
    assert status_of(answer) == status, answer[:300]
    assert says.encode() in answer
    assert TOKEN.encode() not in answer
    # The editor still answers, and no handler raised (socketserver prints those).
    assert call(editor, "/api/check", {"zones": []})[0] == 200
    assert "Traceback" not in capsys.readouterr().err
    assert not editor.app.session.path.exists()


def test_a_body_shorter_than_announced_is_400(editor: EditorServer) -> None:
    answer = raw_request(editor, POST + "Content-Length: 100\n", b'{"zones": []}', close=True)
    assert status_of(answer) == 400 and b"shorter than announced" in answer


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("127.0.0.1:{port}", None),
        ("localhost:{port}", None),
        ("[::1]:{port}", None),
        ("LOCALHOST:{port}", "http://localhost:{port}"),
        ("127.0.0.1:{port}", "http://127.0.0.1:{port}"),
    ],
)
def test_its_own_host_and_origin_are_served(
    editor: EditorServer, host: str, origin: str | None
) -> None:
    head = POST.replace("127.0.0.1:{port}", host) + f"Content-Length: {len(DRAFT)}\n"
    if origin is not None:
        head += f"Origin: {origin}\n"
    answer = raw_request(editor, head, DRAFT)
    assert status_of(answer) == 200 and b'"ok": true' in answer


@pytest.mark.parametrize(
    ("host", "listen", "allowed"),
    [
        ("127.0.0.1:8000", "127.0.0.1", True),
        ("localhost:8000", "127.0.0.1", True),
        ("[::1]:8000", "127.0.0.1", True),
        ("[::1]:8000", "::1", True),
        ("127.0.0.1:8001", "127.0.0.1", False),
        ("127.0.0.1", "127.0.0.1", False),  # port 80 is not the one served
        ("127.0.0.1", "127.0.0.1:80", False),
        ("evil.example:8000", "127.0.0.1", False),
        ("localhost.evil.example:8000", "127.0.0.1", False),
        ("192.0.2.7:8000", "192.0.2.7", True),
        ("127.0.0.1:8000", "192.0.2.7", False),  # not listening on loopback
        ("box.local:8000", "box.local", True),
        ("other.local:8000", "box.local", False),
        ("192.0.2.7:8000", "0.0.0.0", True),
        ("[2001:db8::1]:8000", "::", True),
        ("localhost:8000", "0.0.0.0", True),
        ("box.local:8000", "0.0.0.0", False),  # a name may have been rebound
        ("", "127.0.0.1", False),
        ("127.0.0.1:8000/x", "127.0.0.1", False),
        ("user@127.0.0.1:8000", "127.0.0.1", False),
        ("127.0.0.1:port", "127.0.0.1", False),
    ],
)
def test_which_host_headers_name_the_editor(host: str, listen: str, allowed: bool) -> None:
    assert host_allowed(host, listen, 8000) is allowed


def test_preview_is_refused_when_there_is_none(editor: EditorServer) -> None:
    status, body, _ = call(editor, "/api/preview", {"run": True})
    assert status == 409 and json.loads(body)["message"] == "no preview here"
    assert call(editor, "/api/preview.jpg")[0] == 404


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.5", True),
        ("0.0.0.0", False),
        ("192.0.2.7", False),
        ("::", False),
        ("edge-box.local", False),
    ],
)
def test_which_listen_addresses_warn(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


def _args(**given: Any) -> argparse.Namespace:
    defaults = {"config": None, "camera": None, "video": None, "zones": None}
    return argparse.Namespace(**{**defaults, **given})


def test_target_needs_a_picture_and_a_file() -> None:
    with pytest.raises(ConfigError, match="give --config FILE --camera ID, or --video"):
        resolve_target(_args(video=Path("v.mp4")))


def test_target_camera_id_comes_from_the_file_or_its_name(tmp_path: Path) -> None:
    existing = tmp_path / "zones.yaml"
    existing.write_text("camera: entrance\nzones: []\n")
    assert resolve_target(_args(video=Path("v.mp4"), zones=existing)).camera_id == "entrance"
    new = tmp_path / "Back Door.yaml"
    assert resolve_target(_args(video=Path("v.mp4"), zones=new)).camera_id == "back-door"


def test_target_from_a_config_with_several_cameras(tmp_path: Path) -> None:
    config = tmp_path / "edge-app.yaml"
    config.write_text(
        "cameras:\n"
        "  - {id: door, source: {type: file, path: door.mp4}, zones: zones/door.yaml}\n"
        "  - {id: till, source: {type: synthetic}, zones: zones/till.yaml}\n"
    )
    with pytest.raises(ConfigError, match=r"give --camera, one of \['door', 'till'\]"):
        resolve_target(_args(config=config))
    with pytest.raises(ConfigError, match="has no camera 'tils'"):
        resolve_target(_args(config=config, camera="tils"))
    target = resolve_target(_args(config=config, camera="door"))
    assert target.zones_path == tmp_path / "zones" / "door.yaml"
    assert target.camera is not None and target.segmenter.type == "background"
