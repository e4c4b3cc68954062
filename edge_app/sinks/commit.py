"""Committing the store writer's batches (``sinks.writer``) on a disk that may refuse them.

A commit the disk refuses (full, or failing for a while) is retried with backoff, on
fresh connections and an emptied WAL, until it succeeds or the writer stops; at a stop
there is one more try and then the batch is given up. The events go in transactions of
up to ``MAX_EVENTS_PER_COMMIT`` while the disk takes them (large transactions are fast);
after a refusal in smaller ones, halving down to ``MIN_EVENTS_PER_COMMIT``, so that a
commit fits in what a nearly full disk gets back.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from edge_app.core.backoff import Backoff
from edge_app.core.errors import StoreError
from edge_app.sinks.store import EventStore, WriteBatch

# What it logs is the writer's, under the writer's name.
log = logging.getLogger("edge_app.sinks.writer")

MAX_EVENTS_PER_COMMIT = 20_000
"""Most events one transaction writes while the disk takes them (large transactions are
fast); after a refused commit the events go in smaller ones, halving down to
``MIN_EVENTS_PER_COMMIT``, so a commit fits in what a nearly full disk gets back."""
MIN_EVENTS_PER_COMMIT = 100
# A commit the disk refused is retried after about 0.5 s, doubling up to 10 s, until it
# succeeds or the writer stops.
RETRY_BACKOFF = Backoff(0.5, 10.0)

LogEvery = Callable[..., None]
"""``(key, level, message, *args)``: the writer's rate-limited logging."""


def split(batch: WriteBatch, events: int) -> tuple[WriteBatch, WriteBatch | None]:
    """The first ``events`` events of ``batch`` with its samples, acks and retained topic
    changes, and the rest of its events (None when nothing is left)."""
    if len(batch.events) <= events:
        return batch, None
    return (
        WriteBatch(batch.events[:events], batch.samples, batch.acks, batch.retained),
        WriteBatch(batch.events[events:]),
    )


class ChunkedCommit:
    """Writes batches to ``store`` for the writer thread. ``retry`` spaces the attempts at a
    commit the disk refused; setting ``stop_requested`` cuts a wait short."""

    def __init__(
        self,
        store: EventStore,
        retry: Backoff,
        stop_requested: threading.Event,
        log_every: LogEvery,
    ) -> None:
        self._store = store
        self._retry = retry
        self._stop_requested = stop_requested
        self._log_every = log_every
        self._chunk = MAX_EVENTS_PER_COMMIT  # events per transaction now (see commit)

    def commit(
        self,
        batch: WriteBatch,
        give_up: bool,
        refused: Callable[[], bool],
        stored: Callable[[int], None],
    ) -> bool:
        """Commit, retrying with backoff while the disk refuses (a full disk may recover
        through retention or an operator); at a stop, one more try and then give up.

        ``refused()`` counts each refusal and says whether the writer is stopping;
        ``stored(n)`` counts the events of each transaction committed.

        The events go in transactions of up to ``self._chunk``: as many as gathered while
        all is well, halved after each refusal (down to ``MIN_EVENTS_PER_COMMIT``), so a
        commit fits again in what a nearly full disk gets back."""
        attempt = 0
        rest: WriteBatch | None = batch
        while rest is not None:
            part, later = split(rest, self._chunk)
            try:
                self._store.write(part)
            except StoreError as exc:
                stopping = refused()
                if give_up or stopping:
                    log.error("%s; %d events were not stored", exc, len(rest.events))
                    return False
                self._chunk = max(MIN_EVENTS_PER_COMMIT, min(self._chunk, len(part.events)) // 2)
                delay = self._retry.delay(attempt, random.random())
                attempt += 1
                self._log_every("commit", logging.ERROR, "%s; retrying in %.1f s", exc, delay)
                self._stop_requested.wait(delay)  # a stop ends the wait: one last try
                # Fresh connections and an emptied WAL for the next try: a connection that
                # hit a full disk may not write again, even once space is back.
                self._store.release_space()
                continue
            stored(len(part.events))
            rest = later
        self._chunk = MAX_EVENTS_PER_COMMIT
        return True
