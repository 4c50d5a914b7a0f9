"""Charts as inline SVG, drawn on the server (pure: numbers in, markup out).

No script and no external file: the page works under `default-src 'none'`. Colours are SVG
presentation attributes (not `style=`), so no inline style is needed either. Every chart has a
`<title>` and the page puts its numbers in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 28, 40
PALETTE = ("#b42318", "#dc6803", "#2e90fa", "#12b76a", "#667085", "#7a5af8")


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    colour: str
    dashed: bool = False


def _nice_step(value: float) -> float:
    """A round step: 1, 2 or 5 times a power of ten, at least `value`."""
    power = 1.0
    while power * 10 <= value:
        power *= 10
    while power > value:
        power /= 10
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def _nice_max(value: float) -> float:
    """The axis top: four round steps (whole steps from 1 up: counts never read 6.25)."""
    if value <= 0:
        return 4.0
    step = _nice_step(value / 4)
    if value >= 1:
        step = max(1.0, step)
    return 4 * step


def _number(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def _frame(title: str, categories: Sequence[str], top: float, unit: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in range(5):
        value = top * tick / 4
        y = TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            'stroke="#e4e7ec" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#475467">{escape(_number(value))}</text>'
        )
    if unit:
        parts.append(
            f'<text x="{LEFT}" y="{TOP - 12}" font-size="11" fill="#475467">{escape(unit)}</text>'
        )
    slot = plot_w / max(1, len(categories))
    for index, category in enumerate(categories):
        x = LEFT + slot * index + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="10" '
            f'fill="#475467">{escape(category[2:] if len(category) == 7 else category)}</text>'
        )
    return parts


def _legend(series: Sequence[Series]) -> list[str]:
    parts, x = [], LEFT
    for item in series:
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{escape(item.colour)}"/>'
        )
        parts.append(
            f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11" fill="#344054">'
            f"{escape(item.label)}</text>"
        )
        x += 24 + 7 * len(item.label)
    return parts


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    stacked: bool = False,
    unit: str = "",
) -> Markup:
    """Bars per category: side by side, or stacked (a total per category)."""
    if stacked:
        highest = max(
            (sum(s.values[i] or 0 for s in series) for i in range(len(categories))), default=0
        )
    else:
        highest = max((v or 0 for s in series for v in s.values), default=0)
    top = _nice_max(float(highest))
    parts = _frame(title, categories, top, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    inner = slot * 0.7
    for index, category in enumerate(categories):
        base = float(TOP + plot_h)
        for number, item in enumerate(series):
            value = float(item.values[index] or 0)
            height = plot_h * value / top
            if stacked:
                x, width = LEFT + slot * index + (slot - inner) / 2, inner
                y, base = base - height, base - height
            else:
                width = inner / max(1, len(series))
                x = LEFT + slot * index + (slot - inner) / 2 + width * number
                y = TOP + plot_h - height
            if value:
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
                    f'fill="{escape(item.colour)}"><title>{escape(category)}, '
                    f"{escape(item.label)}: {escape(_number(value))}</title></rect>"
                )
    parts += _legend(series)
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    title: str, categories: Sequence[str], series: Sequence[Series], *, unit: str = ""
) -> Markup:
    """A line per series, broken where a value is unknown (a month without samples)."""
    highest = max((v for s in series for v in s.values if v is not None), default=0.0)
    top = _nice_max(float(highest))
    parts = _frame(title, categories, top, unit)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(categories))
    for item in series:
        runs: list[list[tuple[float, float]]] = [[]]
        for index, value in enumerate(item.values):
            if value is None:
                runs.append([])
                continue
            x = LEFT + slot * index + slot / 2
            y = TOP + plot_h - plot_h * float(value) / top
            runs[-1].append((x, y))
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{escape(item.colour)}">'
                f"<title>{escape(categories[index])}, {escape(item.label)}: "
                f"{escape(_number(float(value)))}</title></circle>"
            )
        dash = ' stroke-dasharray="5 4"' if item.dashed else ""
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                parts.append(
                    f'<polyline points="{points}" fill="none" stroke="{escape(item.colour)}" '
                    f'stroke-width="2"{dash}/>'
                )
    parts += _legend(series)
    parts.append("</svg>")
    return Markup("".join(parts))
