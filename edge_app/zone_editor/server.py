"""The editor's small web server (standard library only).

Every request must carry the session's random token, in the ``token`` query parameter (the
printed URL, images, scripts) or the ``X-Token`` header (the page's API calls); anything
else gets 403. The token is never logged. Pages and answers are marked not to be cached,
and the Content-Security-Policy lets the page load nothing from anywhere else.

Before the token is even looked at, the ``Host`` header must name the address and port the
editor serves (a loopback name when it listens on loopback: ``127.0.0.1``, ``localhost``,
``[::1]``; the ``--listen`` address otherwise; any IP address when it listens on all of
them), else 421: a page of another site whose name was pointed at this machine (DNS
rebinding) is refused. An ``Origin`` header, when sent, must be the editor's own, else 403.
A request body must have a valid ``Content-Length`` of at most ``MAX_BODY_BYTES`` (400,
411 or 413, answered without reading the body) and be a JSON object nested at most
``MAX_JSON_DEPTH`` deep (400); nothing a client sends makes a handler raise.

API (JSON unless said otherwise):

- ``GET /api/state``: camera, zone file, units, the zones as loaded and how they check.
- ``GET /api/frame.jpg``: the snapshot the zones are drawn on.
- ``POST /api/check`` ``{zones: [...]}``: validate a draft, as ``edge-app check`` does.
- ``POST /api/save`` ``{zones: [...]}``: validate and write; 422 with the message when invalid.
- ``GET/POST /api/preview`` ``{run: bool, zones: [...]}``: live preview status / control.
- ``GET /api/preview.jpg``: the latest preview frame.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge_app.core.errors import ConfigError
from edge_app.zone_editor.guard import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    Refused,
    body_length,
    host_allowed,
    json_depth,
    origin_allowed,
)
from edge_app.zone_editor.preview import LivePreview
from edge_app.zone_editor.session import (
    CheckResult,
    ConflictError,
    DraftError,
    EditorSession,
    check_json,
)

log = logging.getLogger(__name__)

__all__ = ["MAX_BODY_BYTES", "EditorApp", "EditorServer"]

_STATIC = {
    "editor.js": "text/javascript; charset=utf-8",
    "editor.css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
}


@dataclass(frozen=True, slots=True)
class EditorApp:
    """Everything one editor serves: the session, the snapshot, the preview, the token."""

    session: EditorSession
    snapshot_jpeg: bytes
    token: str
    preview: LivePreview | None = None


def _static_text(name: str) -> bytes:
    return (resources.files("edge_app.zone_editor") / "static" / name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: EditorServer
    server_version = "edge-app-zone-editor"
    sys_version = ""
    timeout = 30.0  # a client that stops sending mid-request does not hold its thread

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line, and with it the token: log the path only.
        log.debug("%s %s", self.command, urlsplit(self.path).path)

    # --- plumbing ---------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in _SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _authorised(self) -> bool:
        app = self.server.app
        query = parse_qs(urlsplit(self.path).query)
        given = self.headers.get("X-Token") or (query.get("token") or [""])[0]
        return hmac.compare_digest(given.encode(), app.token.encode())

    def _body(self) -> dict[str, Any]:
        length = body_length(self.headers)
        try:
            raw = self.rfile.read(length)
        except TimeoutError as exc:
            raise Refused(HTTPStatus.REQUEST_TIMEOUT, "the request body did not arrive") from exc
        if len(raw) < length:
            raise Refused(HTTPStatus.BAD_REQUEST, "the request body is shorter than announced")
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DraftError(f"request body is not JSON: {exc}") from exc
        except RecursionError as exc:
            raise DraftError(f"request body nests deeper than {MAX_JSON_DEPTH} levels") from exc
        if not isinstance(body, dict):
            raise DraftError("request body must be a JSON object")
        if json_depth(body) > MAX_JSON_DEPTH:
            raise DraftError(f"request body nests deeper than {MAX_JSON_DEPTH} levels")
        return body

    def _misdirected(self) -> tuple[HTTPStatus, bytes] | None:
        """Why a request is not for this editor (Host, Origin), or ``None``."""
        host = self.headers.get("Host", "").strip()
        listen = str(self.server.server_address[0])
        if not host_allowed(host, listen, self.server.port):
            return (
                HTTPStatus.MISDIRECTED_REQUEST,
                b"misdirected: open the URL edge-app printed (by its address)\n",
            )
        origin = self.headers.get("Origin")
        if origin is not None and not origin_allowed(origin.strip(), host):
            return HTTPStatus.FORBIDDEN, b"forbidden: a request from another site\n"
        return None

    def _route(self, routes: dict[str, Any]) -> None:
        misdirected = self._misdirected()
        if misdirected is not None:
            self.close_connection = True  # a body, if any, stays unread
            self._send(*misdirected, "text/plain; charset=utf-8")
            return
        if not self._authorised():
            self.close_connection = True  # a body, if any, stays unread
            self._send(
                HTTPStatus.FORBIDDEN,
                b"forbidden: open the URL edge-app printed\n",
                "text/plain; charset=utf-8",
            )
            return
        path = urlsplit(self.path).path
        handler = routes.get(path)
        if handler is None and path.startswith("/static/") and path[8:] in _STATIC:
            self._send(HTTPStatus.OK, _static_text(path[8:]), _STATIC[path[8:]])
            return
        if handler is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            return
        try:
            handler()
        except Refused as exc:
            self.close_connection = True  # the body may be unread: no next request on it
            self._json(exc.status, {"ok": False, "message": str(exc)})
        except DraftError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"ok": False, "message": str(exc)})
        except ConflictError as exc:
            self._json(HTTPStatus.CONFLICT, {"ok": False, "message": str(exc)})
        except ConfigError as exc:  # the file could not be written
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"ok": False, "message": str(exc)})

    def do_GET(self) -> None:
        self._route(
            {
                "/": self._index,
                "/api/state": self._state,
                "/api/frame.jpg": self._frame,
                "/api/preview": self._preview_status,
                "/api/preview.jpg": self._preview_frame,
            }
        )

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self._route(
            {"/api/check": self._check, "/api/save": self._save, "/api/preview": self._preview}
        )

    # --- endpoints ----------------------------------------------------------------------

    def _index(self) -> None:
        page = _static_text("index.html").replace(b"{{TOKEN}}", self.server.app.token.encode())
        self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")

    def _state(self) -> None:
        app = self.server.app
        state = app.session.state()
        state["preview"] = {
            "available": app.preview is not None,
            "segmenter": app.preview.segmenter_name if app.preview else None,
        }
        self._json(HTTPStatus.OK, state)

    def _frame(self) -> None:
        self._send(HTTPStatus.OK, self.server.app.snapshot_jpeg, "image/jpeg")

    def _check(self) -> None:
        self._json(HTTPStatus.OK, check_json(self.server.app.session.check(self._body())))

    def _save(self) -> None:
        session = self.server.app.session
        result = session.save(self._body())
        if isinstance(result, CheckResult):
            self._json(HTTPStatus.UNPROCESSABLE_ENTITY, check_json(result))
            return
        where = f"; the previous version is in {result.backup.name}" if result.backup else ""
        kept = "" if result.comments_kept else " (its comments could not all be kept)"
        self._json(
            HTTPStatus.OK,
            {
                "ok": True,
                "message": f"Saved {result.path}{kept}{where}.",
                "backup": str(result.backup) if result.backup else None,
                "comments_kept": result.comments_kept,
                "reload": {"signalled": result.reload.signalled, "message": result.reload.message},
                "summary": list(result.summary),
                "state": session.state(),
            },
        )

    def _preview_status(self) -> None:
        preview = self.server.app.preview
        if preview is None:
            self._json(HTTPStatus.OK, {"running": False, "error": "no preview here"})
            return
        self._json(HTTPStatus.OK, preview.status())

    def _preview(self) -> None:
        app = self.server.app
        body = self._body()
        if app.preview is None:
            self._json(HTTPStatus.CONFLICT, {"ok": False, "message": "no preview here"})
            return
        problem = None
        if body.get("zones") is not None:
            try:
                app.preview.set_zones(app.session.draft_zones(body))
            except ConfigError as exc:
                app.preview.set_zones(None)
                problem = str(exc)
        if body.get("run") is True:
            app.preview.start()
        elif body.get("run") is False:
            app.preview.stop()
        status = app.preview.status()
        status["zones_problem"] = problem
        self._json(HTTPStatus.OK, status)

    def _preview_frame(self) -> None:
        preview = self.server.app.preview
        latest = preview.latest() if preview is not None else None
        if latest is None:
            self._send(HTTPStatus.NOT_FOUND, b"no preview frame yet\n", "text/plain")
            return
        self._send(HTTPStatus.OK, latest.jpeg, "image/jpeg")


class EditorServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` serving one ``EditorApp`` (IPv6 when ``host`` has a colon)."""

    daemon_threads = True

    def __init__(self, app: EditorApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, host: str | None = None) -> str:
        """The URL to open, with the token; ``host`` replaces the listening address."""
        name = host or str(self.server_address[0])
        if ":" in name:
            name = f"[{name}]"
        return f"http://{name}:{self.port}/?token={self.app.token}"
