"""What the zone editor's server checks of a request before it serves it: that it is
meant for this editor (``Host``, ``Origin``) and that its body can be read safely
(``Content-Length``, size, JSON depth). Pure functions of the request's headers and data.
"""

from __future__ import annotations

import ipaddress
from email.message import Message
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_BYTES = 1_000_000
"""Largest request body accepted; a draft of many zones is a few kilobytes."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of a request body's JSON (a draft is 5 deep: object, zones, zone,
polygon, point)."""

_WILDCARDS = ("0.0.0.0", "::", "")


class Refused(Exception):
    """A request answered with ``status`` and ``message``; its body may be left unread, so
    the connection is closed after the answer."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _authority(text: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of ``host[:port]`` (an IPv6 address in brackets), lowercased;
    ``None`` when it is not one."""
    if not text or any(c in text for c in "/?#@ \t"):
        return None
    try:
        parts = urlsplit(f"//{text}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), port


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _loopback(name: str) -> bool:
    address = _ip(name)
    return name == "localhost" or (address is not None and address.is_loopback)


def host_allowed(host: str, listen: str, port: int) -> bool:
    """Whether a ``Host`` header names this editor: listening on ``listen`` at ``port``.

    >>> host_allowed("127.0.0.1:8000", "127.0.0.1", 8000)
    True
    >>> host_allowed("localhost:8000", "::1", 8000), host_allowed("127.0.0.1:9", "127.0.0.1", 8000)
    (True, False)
    >>> host_allowed("evil.example:8000", "127.0.0.1", 8000)  # a rebound DNS name
    False
    >>> host_allowed("192.0.2.7:8000", "0.0.0.0", 8000), host_allowed("box:8000", "0.0.0.0", 8000)
    (True, False)
    """
    parsed = _authority(host)
    if parsed is None:
        return False
    name, given_port = parsed
    if (80 if given_port is None else given_port) != port:
        return False
    listen_name = listen.strip("[]").lower()
    wildcard = listen_name in _WILDCARDS
    if name == listen_name and not wildcard:
        return True
    if (wildcard or _loopback(listen_name)) and _loopback(name):
        return True
    # On every address, any of this machine's IP addresses may be asked for; a DNS name
    # cannot be told apart from a rebound one.
    return wildcard and _ip(name) is not None


def origin_allowed(origin: str, host: str) -> bool:
    """Whether an ``Origin`` header is the editor's own page, at ``host`` (a checked
    ``Host`` header)."""
    scheme, _, authority = origin.partition("://")
    if scheme.lower() != "http":
        return False
    given, own = _authority(authority), _authority(host)
    if given is None or own is None:
        return False
    return (given[0], given[1] or 80) == (own[0], own[1] or 80)


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a JSON value (0 for a plain value); counting
    stops just past ``MAX_JSON_DEPTH``.

    >>> json_depth({"zones": [{"polygon": [[0, 0]]}]}), json_depth(3)
    (5, 0)
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and deepest <= MAX_JSON_DEPTH:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def body_length(headers: Message) -> int:
    """The request body's length from ``headers``; ``Refused`` when it cannot be trusted
    (chunked, two lengths, not a plain number of bytes, over ``MAX_BODY_BYTES``)."""
    if headers.get("Transfer-Encoding") is not None:
        raise Refused(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
    given = {text.strip() for text in headers.get_all("Content-Length") or ()}
    if not given:
        return 0
    if len(given) > 1:
        raise Refused(HTTPStatus.BAD_REQUEST, "Content-Length is given twice")
    text = given.pop()
    if not (text.isascii() and text.isdigit()):
        raise Refused(
            HTTPStatus.BAD_REQUEST, f"Content-Length {text[:20]!r} is not a number of bytes"
        )
    length = int(text)
    if length > MAX_BODY_BYTES:
        raise Refused(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body over {MAX_BODY_BYTES} bytes"
        )
    return length
