"""Errors the command line turns into one clear message and a non-zero exit."""

from __future__ import annotations


class EdgeAppError(Exception):
    """Base of every error the user should see as a message, never as a traceback."""


class ConfigError(EdgeAppError):
    """A config or zone file is missing, unreadable or invalid.

    The message names the file, the field and what to do about it.
    """

    def __init__(self, file: str, field: str | None, problem: str, fix: str | None = None) -> None:
        self.file = file
        self.field = field
        self.problem = problem
        self.fix = fix
        where = f"{file}: {field}" if field else file
        text = f"{where}: {problem}"
        if fix:
            text += f" ({fix})"
        super().__init__(text)


class SourceError(EdgeAppError):
    """A camera or video source cannot be opened or read."""


class SegmenterError(EdgeAppError):
    """A segmentation backend cannot be created or failed to run."""


class StoreError(EdgeAppError):
    """The event store cannot be opened or written."""
