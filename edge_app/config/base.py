"""What every config model shares: strict models, slugs and secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationInfo,
    model_validator,
)

from edge_app.core.errors import ConfigError

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SLUG_RE = re.compile(SLUG_PATTERN)
SLUG_HELP = "use lowercase letters, digits, '-' and '_' (it becomes part of MQTT topics)"


LONGEST_S = 86_400.0
"""The longest duration any setting in seconds takes (a day): a longer wait is a typo, and
a huge one overflows the timers that use it."""

MAX_TOPIC_PREFIX_BYTES = 1024
"""Longest ``mqtt.base_topic`` or ``ha_discovery_prefix`` (UTF-8 bytes, with a 63-character
device id filled in): far below MQTT's 65,535-byte topics, and above any real prefix."""

MQTT_STRING_BYTES = 65_535
"""MQTT's limit for any string it carries (client id, user name, password)."""


class StrictModel(BaseModel):
    """Unknown keys are errors; numbers must be finite (``.inf`` and ``.nan`` are refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _control_character(value: str) -> str | None:
    for char in value:
        if ord(char) < 32 or 127 <= ord(char) < 160:
            return repr(char)
    return None


def check_topic_prefix(value: str, *, template: bool = False) -> str:
    """``value`` if it is a legal prefix of MQTT topics to publish on, else ``ValueError``.

    A prefix has no wildcards (``+``, ``#``), no empty level (``a//b``, a leading or
    trailing ``/``), does not start with ``$`` (reserved for the broker), has no control
    characters and is at most ``MAX_TOPIC_PREFIX_BYTES``. With ``template``, ``{device_id}``
    is the only placeholder (filled in with the device id).

    >>> check_topic_prefix("shop/{device_id}", template=True)
    'shop/{device_id}'
    >>> check_topic_prefix("shop//edge")
    Traceback (most recent call last):
    ...
    ValueError: has an empty topic level ('shop//edge'); remove the extra '/'
    """
    if not value.strip():
        raise ValueError("is empty; give a topic such as edge-app/{device_id}")
    expanded = value
    if template:
        expanded = value.replace("{device_id}", "d" * 63)
        rest = value.replace("{device_id}", "")
        if "{" in rest or "}" in rest:
            names = re.findall(r"\{[^{}]*\}", rest)
            what = f"{', '.join(names)} is not a placeholder" if names else "has a lone { or }"
            raise ValueError(
                f"{what}: only {{device_id}} is filled in "
                "(write the text as it should appear, without braces)"
            )
    if "+" in value or "#" in value:
        raise ValueError("must not contain the MQTT wildcards + or #")
    if value.startswith("/") or value.endswith("/") or "//" in value:
        raise ValueError(f"has an empty topic level ({value!r}); remove the extra '/'")
    if value.startswith("$"):
        raise ValueError("must not start with $ (such topics are the broker's own, e.g. $SYS)")
    bad = _control_character(value)
    if bad is not None:
        raise ValueError(f"contains the control character {bad}")
    if len(expanded.encode("utf-8")) > MAX_TOPIC_PREFIX_BYTES:
        raise ValueError(f"is longer than {MAX_TOPIC_PREFIX_BYTES} bytes")
    return value


def check_client_id(value: str | None) -> str | None:
    """``value`` if it is a usable MQTT client id (or ``None``), else ``ValueError``."""
    if value is None:
        return None
    if not value.strip():
        raise ValueError("is empty; leave it out to use the default")
    if "+" in value or "#" in value:
        raise ValueError(
            "must not contain + or # (brokers' ACL patterns, %c, would read them as wildcards)"
        )
    bad = _control_character(value)
    if bad is not None:
        raise ValueError(f"contains the control character {bad}")
    if len(value.encode("utf-8")) > MQTT_STRING_BYTES:
        raise ValueError(f"is longer than MQTT's {MQTT_STRING_BYTES} bytes")
    return value


def check_password_has_username(
    value: object, info: ValidationInfo, username: str = "username"
) -> None:
    """``ValueError`` when a password ``value`` is set while the model's ``username``
    field (named ``username`` in the message) was given as ``None``."""
    if value is not None and "username" in info.data and info.data["username"] is None:
        raise ValueError(f"is set without {username}; add the username")


def check_host(value: str) -> str:
    """``value`` if it looks like a host name or an IP address, else ``ValueError``.

    >>> check_host("broker.local"), check_host("::1")
    ('broker.local', '::1')
    >>> check_host("mqtt://broker")
    Traceback (most recent call last):
    ...
    ValueError: give the host name or address only, without mqtt:// (TLS is set in tls:)
    """
    if not value.strip():
        raise ValueError("is empty; give a host name or an IP address")
    if "://" in value:
        scheme = value.split("://", 1)[0]
        raise ValueError(
            f"give the host name or address only, without {scheme}:// (TLS is set in tls:)"
        )
    if any(c.isspace() for c in value) or _control_character(value) is not None:
        raise ValueError(f"{value!r} contains spaces or control characters")
    if "/" in value:
        raise ValueError(f"{value!r} is not a host name (a host has no '/')")
    if re.fullmatch(r"[^:]+:\d+", value):
        raise ValueError(f"{value!r} includes a port; give the port in port: instead")
    return value


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
