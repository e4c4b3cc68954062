"""Who visits the synthetic shop, when, where they walk and where they stop.

``plan_visits`` turns a seed into a fixed cast: each person gets a body (height, shoulder
width), an outfit, a walking speed of 1.0-1.45 m/s and an itinerary of floor keyframes
(time in seconds, position in metres, linear in between). People enter through the door
(below the picture), browse the back wall or the promotions wall, queue at the checkout
and leave the way they came. Every stop lies inside one of the layout's named areas, so
zone counts and dwell can be checked against the truth. The checkout is a real FIFO queue:
customers wait in line and step forward as the one being served leaves, which is what
makes the queue exceed its capacity at busy moments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edge_app.sources.synthetic.layout import BGR, XY, FloatArray, StoreLayout

SHIRTS: tuple[BGR, ...] = (
    (96, 48, 24), (44, 44, 176), (62, 118, 52), (226, 228, 230), (38, 38, 40),
    (42, 164, 206), (128, 128, 132), (56, 34, 112), (196, 156, 98), (34, 116, 224),
    (118, 54, 104), (150, 110, 60),
)  # fmt: skip
TROUSERS: tuple[BGR, ...] = (
    (118, 78, 46),
    (40, 40, 44),
    (108, 146, 172),
    (96, 98, 100),
    (76, 44, 30),
    (42, 58, 86),
)
# Outfits close to the floor tiles: the segmenter must not find these people trivially.
FLOOR_LIKE: tuple[tuple[BGR, BGR], ...] = (
    ((168, 176, 182), (148, 156, 162)),
    ((158, 178, 194), (132, 150, 164)),
    ((176, 180, 180), (160, 166, 170)),
)
SKINS: tuple[BGR, ...] = ((176, 196, 232), (140, 168, 214), (102, 136, 186), (70, 96, 140))
HAIRS: tuple[BGR, ...] = ((26, 26, 30), (40, 62, 92), (110, 170, 212), (180, 182, 186))

ROLES = (
    "browse-back-long",
    "queue",
    "left-then-queue",
    "pass",
    "queue",
    "browse-back-then-queue",
    "left",
    "queue",
)
"""The role of person ``i`` is ``ROLES[i % len(ROLES)]``: a fixed mix, so any seed shows
long stops, short stops, passers-by and a checkout queue."""

SERVICE_S = (14.0, 26.0)
"""How long the customer at the counter is served, uniform range in seconds."""

LEAD_IN_S = 3.0
"""The shop is empty for the first seconds of a run (at most a tenth of it), so a
background model can learn the empty floor, as it would over a real camera's first night."""

STANDER_SPOTS = (("back", 0.2), ("left", 0.7), ("back", 0.75), ("left", 0.2))
"""Where standers stand (shelf, spot along it 0..1), in turn."""

MAX_WAITING = 4
"""A customer who finds this many people already in line gives up and leaves (so a busy
long run does not grow an endless queue)."""


@dataclass(frozen=True, slots=True)
class Outfit:
    """BGR colours of a person's clothes and skin."""

    shirt: BGR
    trousers: BGR
    skin: BGR
    hair: BGR
    shoes: BGR


@dataclass(frozen=True, slots=True)
class Stop:
    """A planned standstill: at floor point ``(x, y)`` metres from ``t_start`` to ``t_end``."""

    zone_id: str
    x: float
    y: float
    t_start: float
    t_end: float

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start


@dataclass(frozen=True, slots=True)
class PersonState:
    """Where a person is at one instant: floor metres, metres walked, heading (unit vector)."""

    x: float
    y: float
    walked_m: float
    heading: XY
    moving: bool


@dataclass(frozen=True, slots=True)
class PersonPlan:
    """One visitor: body, outfit and itinerary.

    ``times`` (K,) seconds, ``xs``/``ys`` (K,) floor metres and ``walked`` (K,) cumulative
    metres are keyframes with linear motion in between; the person is in the shop from
    ``times[0]`` to ``times[-1]`` (entering and leaving through the door, out of view).
    """

    person_id: int
    role: str
    height_m: float
    shoulder_m: float
    speed_mps: float
    outfit: Outfit
    stops: tuple[Stop, ...]
    times: FloatArray = field(repr=False, compare=False)
    xs: FloatArray = field(repr=False, compare=False)
    ys: FloatArray = field(repr=False, compare=False)
    walked: FloatArray = field(repr=False, compare=False)

    @property
    def t_enter(self) -> float:
        return float(self.times[0])

    @property
    def t_leave(self) -> float:
        return float(self.times[-1])

    def present(self, t: float) -> bool:
        """Whether the person is in the shop (maybe outside the picture) at ``t`` seconds."""
        return self.t_enter <= t <= self.t_leave

    def state(self, t: float) -> PersonState:
        """Position, distance walked and heading at ``t`` seconds (clamped to the visit)."""
        tt = min(max(t, self.t_enter), self.t_leave)
        x = float(np.interp(tt, self.times, self.xs))
        y = float(np.interp(tt, self.times, self.ys))
        walked = float(np.interp(tt, self.times, self.walked))
        k = int(np.searchsorted(self.times, tt, side="right")) - 1
        k = min(max(k, 0), len(self.times) - 2)
        dx = float(self.xs[k + 1] - self.xs[k])
        dy = float(self.ys[k + 1] - self.ys[k])
        norm = math.hypot(dx, dy)
        moving = norm > 1e-9 and self.t_enter < tt < self.t_leave
        heading = (dx / norm, dy / norm) if norm > 1e-9 else (0.0, 1.0)
        return PersonState(x, y, walked, heading, moving)


class _Route:
    """Builds one itinerary leg by leg, keeping the keyframes' time strictly increasing."""

    def __init__(self, t: float, start: XY, speed_mps: float) -> None:
        self.speed = speed_mps
        self.t = [t]
        self.x = [start[0]]
        self.y = [start[1]]
        self.walked = [0.0]
        self.stops: list[Stop] = []

    @property
    def now(self) -> float:
        return self.t[-1]

    def walk(self, to: XY) -> None:
        dist = math.hypot(to[0] - self.x[-1], to[1] - self.y[-1])
        if dist < 1e-6:
            return
        self._key(self.now + dist / self.speed, to, self.walked[-1] + dist)

    def wait_until(self, t: float, zone_id: str | None) -> None:
        if t <= self.now + 1e-6:
            return
        here = (self.x[-1], self.y[-1])
        if zone_id is not None:
            self.stops.append(Stop(zone_id, here[0], here[1], self.now, t))
        self._key(t, here, self.walked[-1])

    def _key(self, t: float, xy: XY, walked: float) -> None:
        self.t.append(t)
        self.x.append(xy[0])
        self.y.append(xy[1])
        self.walked.append(walked)


def _jitter(rng: np.random.Generator, xy: XY, spread_m: float) -> XY:
    dx, dy = rng.uniform(-spread_m, spread_m, size=2)
    return (xy[0] + float(dx), xy[1] + float(dy))


def _outfit(rng: np.random.Generator, person_id: int) -> Outfit:
    if person_id % 4 == 2:
        shirt, trousers = FLOOR_LIKE[int(rng.integers(len(FLOOR_LIKE)))]
    else:
        shirt = SHIRTS[int(rng.integers(len(SHIRTS)))]
        trousers = TROUSERS[int(rng.integers(len(TROUSERS)))]
    return Outfit(
        shirt=shirt,
        trousers=trousers,
        skin=SKINS[int(rng.integers(len(SKINS)))],
        hair=HAIRS[int(rng.integers(len(HAIRS)))],
        shoes=(30, 30, 34) if rng.random() < 0.7 else (210, 212, 214),
    )


def _browse(
    route: _Route,
    rng: np.random.Generator,
    layout: StoreLayout,
    where: str,
    stay_s: tuple[float, float],
    spot: float,
) -> None:
    """Walk to a shelf and stand there ``stay_s`` seconds; ``spot`` 0..1 picks the place."""
    if where == "back":
        route.walk(_jitter(rng, layout.waypoint("centre"), 0.5))
        lo, hi = layout.back_browse_x
        target = (lo + spot * (hi - lo), layout.back_browse_y + float(rng.uniform(-0.15, 0.15)))
        zone = "shelf-back"
    else:
        route.walk(_jitter(rng, layout.waypoint("left-aisle"), 0.4))
        lo, hi = layout.left_browse_y
        target = (layout.left_browse_x + float(rng.uniform(-0.1, 0.1)), lo + spot * (hi - lo))
        zone = "shelf-left"
    route.walk(target)
    route.wait_until(route.now + float(rng.uniform(*stay_s)), zone)


def _leave(route: _Route, rng: np.random.Generator, layout: StoreLayout) -> None:
    route.walk(_jitter(rng, layout.door_inside, 0.3))
    route.walk(_jitter(rng, layout.door_outside, 0.3))


def _before_queue(
    route: _Route, rng: np.random.Generator, layout: StoreLayout, role: str, spot: float
) -> None:
    """The part of a visit before the checkout (or the whole visit for non-buyers)."""
    if role == "browse-back-long":
        _browse(route, rng, layout, "back", (36.0, 55.0), spot)
        route.walk(_jitter(rng, layout.waypoint("back-aisle"), 0.4))
        route.walk(_jitter(rng, layout.waypoint("front-left"), 0.4))
    elif role == "browse-back-then-queue":
        _browse(route, rng, layout, "back", (12.0, 25.0), spot)
    elif role in ("left-then-queue", "left"):
        _browse(route, rng, layout, "left", (10.0, 22.0), spot)
        if role == "left":
            route.walk(_jitter(rng, layout.waypoint("front-left"), 0.4))
    elif role == "pass":
        for name in ("centre", "fridges", "back-aisle", "left-aisle", "front-left"):
            route.walk(_jitter(rng, layout.waypoint(name), 0.45))
    elif role == "queue":
        route.walk(_jitter(rng, layout.waypoint("front-left"), 0.4))
        route.walk(_jitter(rng, layout.waypoint("fridges"), 0.4))
    if role.endswith("queue"):
        route.walk(_jitter(rng, layout.queue_approach, 0.2))


def _run_queue(queuers: list[_Route], rng: np.random.Generator, layout: StoreLayout) -> None:
    """First come, first served: wait in line, step up when the one ahead leaves."""
    departures: list[float] = []
    for route in sorted(queuers, key=lambda r: r.now):
        ahead = sorted(d for d in departures if d > route.now)
        position = len(ahead)
        if position >= MAX_WAITING:
            route.walk(_jitter(rng, layout.waypoint("front-left"), 0.3))
            continue
        route.walk(layout.queue_slot(position))
        for leaves_at in ahead:
            route.wait_until(leaves_at, "checkout-1")
            position -= 1
            route.walk(layout.queue_slot(position))
        route.wait_until(route.now + float(rng.uniform(*SERVICE_S)), "checkout-1")
        departures.append(route.now)
        for xy in layout.checkout_leave:
            route.walk(_jitter(rng, xy, 0.2))


def plan_visits(
    layout: StoreLayout, seed: int, people: int, duration_s: float
) -> tuple[PersonPlan, ...]:
    """The visitors of one run, deterministic in ``seed``.

    Arrivals are spread over the first part of the run (its first half for short runs, all
    but the last 50 s for long ones) after an empty lead-in, so most visits are seen from
    start to end.
    """
    rng = np.random.default_rng(seed)
    lead_in_s = min(LEAD_IN_S, 0.1 * duration_s)
    window_s = max(duration_s - 50.0, 0.5 * duration_s) - lead_in_s
    spacing_s = window_s / max(people, 1)
    routes: list[_Route] = []
    bodies = []
    queuers: list[_Route] = []
    # Spread browsing spots along each shelf so people who stop together do not stand
    # inside each other.
    spots = rng.permutation(max(people, 1)) / max(people - 1, 1)
    for pid in range(people):
        role = ROLES[pid % len(ROLES)]
        height = float(np.clip(rng.normal(1.72, 0.09), 1.52, 1.98))
        shoulder = float(np.clip(height * rng.uniform(0.23, 0.28), 0.36, 0.54))
        speed = float(rng.uniform(1.0, 1.45))
        jitter_s = float(rng.uniform(0.0, 0.6)) * spacing_s
        t0 = lead_in_s + pid * spacing_s + jitter_s
        route = _Route(t0, _jitter(rng, layout.door_outside, 0.3), speed)
        route.walk(_jitter(rng, layout.door_inside, 0.25))
        _before_queue(route, rng, layout, role, float(spots[pid]))
        if role.endswith("queue"):
            queuers.append(route)
        routes.append(route)
        bodies.append((role, height, shoulder, speed, _outfit(rng, pid)))
    _run_queue(queuers, rng, layout)
    plans = []
    for pid, (route, (role, height, shoulder, speed, outfit)) in enumerate(
        zip(routes, bodies, strict=True)
    ):
        _leave(route, rng, layout)
        arrays = [np.array(v, dtype=np.float64) for v in (route.t, route.x, route.y, route.walked)]
        for a in arrays:
            a.flags.writeable = False
        plans.append(
            PersonPlan(pid, role, height, shoulder, speed, outfit, tuple(route.stops), *arrays)
        )
    return tuple(plans)


def plan_standers(
    layout: StoreLayout, seed: int, count: int, leave_at_s: list[float], first_id: int
) -> tuple[PersonPlan, ...]:
    """People standing at the shelves from shop time 0 (before any visitor) until
    ``leave_at_s[k]``, then leaving by the door; ids from ``first_id``."""
    rng = np.random.default_rng(seed + 1000)
    plans = []
    for k in range(count):
        shelf, spot = STANDER_SPOTS[k % len(STANDER_SPOTS)]
        if shelf == "back":
            lo, hi = layout.back_browse_x
            place, zone = (lo + spot * (hi - lo), layout.back_browse_y), "shelf-back"
        else:
            lo, hi = layout.left_browse_y
            place, zone = (layout.left_browse_x, lo + spot * (hi - lo)), "shelf-left"
        height = float(np.clip(rng.normal(1.72, 0.09), 1.52, 1.98))
        shoulder = float(np.clip(height * rng.uniform(0.23, 0.28), 0.36, 0.54))
        speed = float(rng.uniform(1.0, 1.45))
        route = _Route(0.0, place, speed)
        route.wait_until(leave_at_s[k], zone)
        if shelf == "back":
            route.walk(_jitter(rng, layout.waypoint("back-aisle"), 0.3))
        route.walk(_jitter(rng, layout.waypoint("front-left"), 0.3))
        _leave(route, rng, layout)
        arrays = [np.array(v, dtype=np.float64) for v in (route.t, route.x, route.y, route.walked)]
        for a in arrays:
            a.flags.writeable = False
        outfit = _outfit(rng, first_id + k)
        plans.append(
            PersonPlan(
                first_id + k, "stand", height, shoulder, speed, outfit, tuple(route.stops), *arrays
            )
        )
    return tuple(plans)
