"""Errors the command line turns into one clear message and a non-zero exit."""

from __future__ import annotations

from collections.abc import Sequence


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

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        """Each problem on its own (one here; several in ``ConfigErrors``)."""
        return (self,)


class ConfigErrors(ConfigError):
    """Several problems found together, so that a user fixes them all in one go.

    It reads as its problems, one per line; ``file``, ``field``, ``problem`` and ``fix``
    are those of the first, so code that looks at one problem still finds one.
    """

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        flat = tuple(p for problem in problems for p in problem.problems)
        if not flat:
            raise ValueError("ConfigErrors needs at least one problem")
        first = flat[0]
        super().__init__(first.file, first.field, first.problem, first.fix)
        self.args = ("\n".join(str(p) for p in flat),)
        self._problems = flat

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        return self._problems


def config_error(problems: Sequence[ConfigError]) -> ConfigError:
    """One error for ``problems``: the problem itself when there is one, else all of them.

    >>> error = config_error([ConfigError("a.yaml", "x", "bad"), ConfigError("a.yaml", "y", "bad")])
    >>> print(error)
    a.yaml: x: bad
    a.yaml: y: bad
    >>> len(error.problems), config_error(error.problems[:1]) is error.problems[0]
    (2, True)
    """
    if len(problems) == 1:
        return problems[0]
    return ConfigErrors(problems)


class SourceError(EdgeAppError):
    """A camera or video source cannot be opened or read."""


class SegmenterError(EdgeAppError):
    """A segmentation backend cannot be created or failed to run."""


class StoreError(EdgeAppError):
    """The event store cannot be opened or written."""
