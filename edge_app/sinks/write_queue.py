"""The store writer's queue (``sinks.writer``): what its callers hand the writer thread.

``submit`` queues a frame's events and zone states, ``ack`` the events the broker
acknowledged, ``retained`` the retained topics published or cleared; ``flush``,
``close_visits`` and ``stop`` queue a marker the thread answers once it gets there.
``WriteQueue`` counts the events and the frames with states that wait (the writer's two
bounds) and hands the thread a run of items that fits one transaction, which ``gather``
turns into one ``WriteBatch``. It holds no lock: the writer's condition guards it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edge_app.core.domain import ZoneState
from edge_app.core.events import Event
from edge_app.sinks.aggregate import OccupancyAggregator, OccupancySample
from edge_app.sinks.store import Ack, RetainedChange, WriteBatch


@dataclass(frozen=True, slots=True)
class QueuedFrame:
    events: Sequence[Event]
    states: Sequence[ZoneState]
    wall: float


@dataclass(frozen=True, slots=True)
class QueuedAcks:
    acks: Sequence[Ack]
    done: Callable[[Sequence[str]], None] | None


@dataclass(frozen=True, slots=True)
class QueuedRetained:
    changes: Sequence[RetainedChange]


@dataclass(frozen=True, slots=True)
class Barrier:
    reached: threading.Event


@dataclass(frozen=True, slots=True)
class CloseVisits:
    reached: threading.Event


@dataclass(frozen=True, slots=True)
class Stop:
    pass


Item = QueuedFrame | QueuedAcks | QueuedRetained | Barrier | CloseVisits | Stop


class WriteQueue:
    """The items in order; ``events``: events waiting, ``frames``: frames with zone states
    waiting."""

    def __init__(self) -> None:
        self._items: deque[Item] = deque()
        self.frames = 0
        self.events = 0

    def __len__(self) -> int:
        return len(self._items)

    def append(self, item: Item) -> None:
        self._items.append(item)
        if isinstance(item, QueuedFrame):
            self.events += len(item.events)
            if item.states:
                self.frames += 1

    def take(self, max_items: int, max_events: int) -> list[Item]:
        """The oldest items, up to ``max_items`` and, past the first frame, ``max_events``
        events."""
        taken: list[Item] = []
        events = 0
        while self._items and len(taken) < max_items:
            item = self._items[0]
            if isinstance(item, QueuedFrame):
                if taken and events + len(item.events) > max_events:
                    break
                events += len(item.events)
                self.events -= len(item.events)
                if item.states:
                    self.frames -= 1
            taken.append(self._items.popleft())
        return taken


@dataclass(frozen=True, slots=True)
class Gathered:
    """A run of items as one commit: the ``batch``; the ``done`` callbacks of its acks, each
    with its event ids, to call once it is committed; the markers to answer after it;
    ``stopped``: the run ends with ``Stop``."""

    batch: WriteBatch
    done: list[tuple[Callable[[Sequence[str]], None], list[str]]]
    barriers: list[Barrier | CloseVisits]
    stopped: bool


def gather(items: Sequence[Item], aggregator: OccupancyAggregator) -> Gathered:
    """Fold ``items`` into one commit, their zone states into ``aggregator``'s samples (and,
    at a stop, its open samples too)."""
    events: list[Event] = []
    samples: list[OccupancySample] = []
    acks: list[Ack] = []
    retained: list[RetainedChange] = []
    done: list[tuple[Callable[[Sequence[str]], None], list[str]]] = []
    barriers: list[Barrier | CloseVisits] = []
    stopped = False
    for item in items:
        if isinstance(item, QueuedFrame):
            events.extend(item.events)
            for state in item.states:
                samples.extend(aggregator.add(state, item.wall))
        elif isinstance(item, QueuedAcks):
            acks.extend(item.acks)
            if item.done is not None:
                done.append((item.done, [a.event_id for a in item.acks]))
        elif isinstance(item, QueuedRetained):
            retained.extend(item.changes)
        elif isinstance(item, (Barrier, CloseVisits)):
            barriers.append(item)
        else:
            stopped = True
    if stopped:
        samples.extend(aggregator.flush())
    return Gathered(WriteBatch(events, samples, acks, retained), done, barriers, stopped)
