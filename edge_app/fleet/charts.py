"""Small inline SVG charts for the HTML report. Pure: values in, SVG text out."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

_FONT = "font-family='system-ui,sans-serif' font-size='10' fill='#5b6673'"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (1, 2, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exp:
            return float(step * exp)
    return float(10 * exp)


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return (
        f"<figure><svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{html.escape(title)}'>"
        f"<rect width='{width}' height='{height}' fill='#ffffff'/>"
        + "".join(body)
        + f"</svg><figcaption>{html.escape(title)}</figcaption></figure>"
    )


def _y_axis(left: int, top: int, plot_w: int, plot_h: int, y_max: float) -> list[str]:
    out = []
    for i in range(5):
        value = y_max * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#e6e9ed'/>"
        )
        out.append(
            f"<text x='{left - 4}' y='{y + 3:.1f}' text-anchor='end' {_FONT}>{value:g}</text>"
        )
    return out


def line_chart(
    points: Sequence[tuple[float, float, int]],
    title: str,
    hours: tuple[int, int] = (0, 24),
    width: int = 360,
    height: int = 170,
) -> str:
    """People over the day: ``points`` are (hour of day, mean count, max count) drawn over
    ``hours`` (first, last); the mean is a line, the max a light area behind it."""
    left, top, right, bottom = 30, 8, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_max(max((p for _, _, p in points), default=0))
    body = _y_axis(left, top, plot_w, plot_h, y_max)
    first, last = hours
    span = max(1, last - first)
    step = max(1, math.ceil(span / 8))
    for h in range(first, last + 1, step):
        x = left + plot_w * (h - first) / span
        anchor = "end" if h == last else "middle"
        body.append(
            f"<text x='{x:.1f}' y='{height - 6}' text-anchor='{anchor}' {_FONT}>{h:02d}h</text>"
        )

    def xy(hour: float, value: float) -> str:
        x = left + plot_w * (hour - first) / span
        return f"{x:.1f},{top + plot_h - plot_h * value / y_max:.1f}"

    if points:
        peak = " ".join(xy(hr, float(p)) for hr, _, p in points)
        base = f"{xy(points[-1][0], 0)} {xy(points[0][0], 0)}"
        body.append(f"<polygon class='max' points='{peak} {base}' fill='#cfe3f7'/>")
        mean = " ".join(xy(hr, m) for hr, m, _ in points)
        body.append(
            f"<polyline class='mean' points='{mean}' fill='none' stroke='#1f6fbf' "
            "stroke-width='1.5'/>"
        )
    return _frame(width, height, title, body)


def bar_chart(
    values: Sequence[int],
    labels: Sequence[str],
    title: str,
    width: int = 360,
    height: int = 170,
    color: str = "#2f9a6a",
) -> str:
    """One bar per value, labelled below (every label when few, else every third)."""
    left, top, right, bottom = 30, 8, 8, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = _nice_max(max(values, default=0))
    body = _y_axis(left, top, plot_w, plot_h, y_max)
    n = max(1, len(values))
    slot = plot_w / n
    every = 1 if n <= 8 else 3
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        bar_h = plot_h * value / y_max
        x = left + i * slot
        body.append(
            f"<rect class='bar' x='{x + slot * 0.1:.1f}' y='{top + plot_h - bar_h:.1f}' "
            f"width='{slot * 0.8:.1f}' height='{bar_h:.1f}' fill='{color}'>"
            f"<title>{html.escape(label)}: {value}</title></rect>"
        )
        if i % every == 0:
            body.append(
                f"<text x='{x + slot / 2:.1f}' y='{height - 6}' text-anchor='middle' "
                f"{_FONT}>{html.escape(label)}</text>"
            )
    return _frame(width, height, title, body)
