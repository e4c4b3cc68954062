"""What every preflight check shares: the config being checked and small file helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_app.config import AppConfig, SecretRef
from edge_app.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """A config whose structure is valid, and the file it came from (named in messages)."""

    path: Path
    config: AppConfig

    def problem(self, field: str, problem: str, fix: str | None = None) -> ConfigError:
        """A problem with ``field`` of this config file."""
        return ConfigError(str(self.path), field, problem, fix)


Check = Callable[[LoadedConfig], list[ConfigError]]
"""One check: the problems it finds in a config (an empty list when there are none). It
reads files and resolves names, but opens no camera, model, database or connection."""


def unreadable(path: Path, what: str) -> str | None:
    """Why ``path`` is not a readable regular file (``what`` names it), or ``None``."""
    if not path.exists():
        return f"{what} {path} not found"
    if not path.is_file():
        return f"{what} {path} is not a regular file"
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        return f"{what} {path} cannot be read: {exc.strerror or exc}"
    return None


def file_problems(
    loaded: LoadedConfig, field: str, path: Path | None, what: str, fix: str
) -> list[ConfigError]:
    """A problem when ``path`` is set but not a readable file."""
    if path is None:
        return []
    why = unreadable(path, what)
    return [] if why is None else [loaded.problem(field, why, fix)]


def secret_problems(
    loaded: LoadedConfig, field: str, secret: SecretRef | None, max_bytes: int | None = None
) -> list[ConfigError]:
    """A problem when ``secret`` is set but cannot be resolved now (or is too long)."""
    if secret is None:
        return []
    try:
        text = secret.resolve()
    except ConfigError as exc:
        return [loaded.problem(field, f"{exc.file}: {exc.problem}", exc.fix)]
    if max_bytes is not None and len(text.encode("utf-8")) > max_bytes:
        return [loaded.problem(field, f"is longer than {max_bytes} bytes", "give a shorter one")]
    return []
