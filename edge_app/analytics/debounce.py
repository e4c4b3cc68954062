"""A debounced boolean: the state machine behind occupancy, visits and alerts."""

from __future__ import annotations


class Debounce:
    """A boolean that turns on once its input has been on for ``on_after_s`` seconds and
    off once its input has been off for ``off_after_s`` seconds (source-clock time).

    0 means "at once". ``since`` is when the input first came on for the current (or,
    once off, the last) on period, so an occupancy confirmed after 1 s still starts when
    the person arrived;
    ``last_on_t`` is the last time the input was on (so a visit ends when the person was
    last seen inside, not when the debounce gave up on them).

    >>> d = Debounce(on_after_s=1.0, off_after_s=2.0)
    >>> [d.update(True, t) for t in (0.0, 0.5, 1.0)]
    [None, None, True]
    >>> d.since
    0.0
    """

    __slots__ = ("_pending_since", "last_on_t", "off_after_s", "on", "on_after_s", "since")

    def __init__(self, on_after_s: float, off_after_s: float) -> None:
        if on_after_s < 0 or off_after_s < 0:
            raise ValueError(
                f"debounce times must be >= 0 s, got on_after_s={on_after_s}, "
                f"off_after_s={off_after_s}"
            )
        self.on_after_s = on_after_s
        self.off_after_s = off_after_s
        self.on = False
        self.since: float | None = None
        self.last_on_t: float | None = None
        self._pending_since: float | None = None

    def update(self, raw: bool, t: float) -> bool | None:
        """Feed the input at time ``t``; returns the new state when it changed, else None."""
        if raw:
            self.last_on_t = t
        if self.on == raw:
            self._pending_since = None
            return None
        if self._pending_since is None:
            self._pending_since = t
        threshold = self.on_after_s if raw else self.off_after_s
        if t - self._pending_since < threshold:
            return None
        self.on = raw
        if raw:
            self.since = self._pending_since
        self._pending_since = None
        return raw

    @property
    def pending(self) -> bool:
        """True while the input disagrees with the state but the debounce holds."""
        return self._pending_since is not None
