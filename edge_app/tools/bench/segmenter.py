"""What the ``background`` segmenter costs per frame, step by step.

Run as ``python -m edge_app.tools.bench.segmenter [--video FILE] [--synthetic-s S]``.
Frames are decoded (or rendered) into memory first; then the segmenter runs over them on
one OpenCV thread, ``--repeats`` times, and the best pass gives the total per frame
(``cold``: from a cold start, bootstrap included; ``warm``: from the scene learned by
the previous pass, as a replay segments them). One more pass under ``cProfile`` gives
each step's share: the time inside each function of the segmenter and each OpenCV or
NumPy call, per frame. The profiler adds its own cost to every call; its figures say
where the time goes, the unprofiled totals what it is.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Sequence
from pathlib import Path

import cv2

from edge_app.config import BackgroundSegmenterConfig, SyntheticSourceConfig
from edge_app.core.domain import Frame
from edge_app.segmentation.background import BackgroundSegmenter
from edge_app.sources.file import FileSource
from edge_app.sources.synthetic.scene import SyntheticSource

DEFAULT_VIDEO = Path("../shared/data/tud_stadtmitte/tud_stadtmitte.mp4")


def _pass(frames: Sequence[Frame], state: dict[str, object] | None) -> tuple[float, object]:
    segmenter = BackgroundSegmenter(BackgroundSegmenterConfig())
    camera = frames[0].camera_id
    if state is not None:
        segmenter.restore(camera, dict(state))
    start = time.perf_counter()
    for frame in frames:
        segmenter.segment([frame])
    elapsed = time.perf_counter() - start
    return elapsed / len(frames), segmenter.state(camera)


def measure(name: str, frames: Sequence[Frame], repeats: int, top: int) -> None:
    """Print the totals and the biggest steps of the segmenter over ``frames``."""
    cold = min(_pass(frames, None)[0] for _ in range(repeats))
    _, state = _pass(frames, None)
    warm = min(_pass(frames, state)[0] for _ in range(repeats))  # type: ignore[arg-type]
    size = frames[0].size
    print(f"{name}: {len(frames)} frames {size[0]}x{size[1]}, best of {repeats}:")
    print(f"  cold start {cold * 1e3:.2f} ms/frame, warm (scene restored) {warm * 1e3:.2f}")
    profile = cProfile.Profile()
    profile.enable()
    _pass(frames, state)  # type: ignore[arg-type]
    profile.disable()
    stats = pstats.Stats(profile)
    rows = []
    for (file, _, func), (_, _, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tottime, cumtime, f"{Path(file).name}:{func}" if file != "~" else func))
    rows.sort(reverse=True)
    print(f"  profiled warm pass, per frame (top {top} by own time):")
    print(f"  {'own ms':>8} {'with callees':>13}  step")
    for tottime, cumtime, label in rows[:top]:
        n = len(frames)
        print(f"  {tottime / n * 1e3:8.3f} {cumtime / n * 1e3:13.3f}  {label}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    p.add_argument("--synthetic-s", type=float, default=30.0, help="seconds of the shop (0: none)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--top", type=int, default=14)
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    if args.video and args.video.is_file():
        measure(
            args.video.name, list(FileSource("video", args.video).frames()), args.repeats, args.top
        )
    if args.synthetic_s > 0:
        scene = SyntheticSourceConfig(duration_s=args.synthetic_s, people=8, seed=7)
        frames = list(SyntheticSource("shop", scene).frames())
        measure(f"synthetic shop {args.synthetic_s:g} s", frames, args.repeats, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
