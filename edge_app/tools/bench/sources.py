"""How long the synthetic camera takes per frame (render, truth) and the file source per decode.

Run on one core, as the daemon's capture thread would:

    .venv/bin/python -m edge_app.tools.bench.sources [--people 8] \
        [--width 960 --height 540] [--video F]

Prints mean, median, 95th percentile and worst milliseconds per frame over a whole run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2

from edge_app.config import SyntheticSourceConfig
from edge_app.sources.file import FileSource
from edge_app.sources.synthetic.scene import SyntheticSource


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[int(0.95 * (len(ms) - 1))]
    return (
        f"{name:<28} mean {statistics.mean(ms):6.2f}  p50 {statistics.median(ms):6.2f}  "
        f"p95 {p95:6.2f}  max {ms[-1]:6.2f} ms  ({len(ms)} frames)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=8)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--width", type=int, default=960)
    parser.add_argument("--height", type=int, default=540)
    parser.add_argument("--video", type=Path, help="also time the file source decoding this video")
    args = parser.parse_args()
    cv2.setNumThreads(1)

    cfg = SyntheticSourceConfig(
        people=args.people, duration_s=args.duration, width=args.width, height=args.height
    )
    src = SyntheticSource("store-floor", cfg)
    start = time.perf_counter()
    src.render(0)  # the static scene and the noise bank are made on first use
    print(f"synthetic: first frame (scene set-up) {time.perf_counter() - start:.2f} s")
    per_frame, render, truth = [], [], []
    for index in range(src.frame_count):
        a = time.perf_counter()
        src.render(index)
        b = time.perf_counter()
        src.truth(index)
        c = time.perf_counter()
        render.append(b - a)
        truth.append(c - b)
    stream = src.frames_with_truth()
    last = time.perf_counter()
    for _ in stream:
        now = time.perf_counter()
        per_frame.append(now - last)
        last = now
    size = f"{args.width}x{args.height}, {args.people} people"
    print(summary(f"render ({size})", render))
    print(summary("truth", truth))
    print(summary("frames_with_truth (both)", per_frame))

    if args.video is not None:
        decode = []
        last = time.perf_counter()
        for _ in FileSource("video", args.video).frames():
            now = time.perf_counter()
            decode.append(now - last)
            last = now
        print(summary(f"file source, {args.video.name}", decode))


if __name__ == "__main__":
    main()
