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
    model_validator,
)

from edge_app.core.errors import ConfigError

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
