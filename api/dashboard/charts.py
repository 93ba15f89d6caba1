"""Charts of the operator dashboard as SVG drawn on the server: no script, no chart library,
nothing fetched (the page's CSP allows none). Pure functions: numbers in, markup out; every
text is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# One colour per series, readable on white and told apart without colour by the legend.
PALETTE = ("#1d1d1f", "#1a73e8", "#e37400", "#188038", "#a142f4", "#d93025")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def scale_top(highest: int) -> int:
    """A round top for the y axis at or above `highest`: 1, 2, 5, 10, 20, 50..."""
    magnitude = 1
    while True:
        for step in (1, 2, 5):
            if step * magnitude >= highest:
                return step * magnitude
        magnitude *= 10


def bar_chart(labels: Sequence[str], series: Sequence[Series], *, title: str) -> Markup:
    """Grouped bars, one group per label (a day), one bar per series; the axis starts at 0."""
    width, height, left, bottom, top_pad = 720, 220, 40, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    highest = max((value for one in series for value in one.values), default=0)
    top = scale_top(max(highest, 1))
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.8 / max(len(series), 1), 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height + 24}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" '
        'stroke="#999"/>',
        f'<text x="{left - 6}" y="{top_pad + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{left - 6}" y="{top_pad + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for index, label in enumerate(labels):
        x0 = left + index * slot + slot * 0.1
        for number, one in enumerate(series):
            value = one.values[index] if index < len(one.values) else 0
            bar_h = plot_h * value / top
            x = x0 + number * bar_w
            y = top_pad + plot_h - bar_h
            colour = PALETTE[number % len(PALETTE)]
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{bar_h:.1f}" fill="{colour}" data-series="{escape(one.name)}" '
                f'data-value="{value}"><title>{escape(label)} · {escape(one.name)}: {value}'
                "</title></rect>"
            )
    if labels:
        baseline = top_pad + plot_h + 16
        parts.append(f'<text x="{left}" y="{baseline}" font-size="11">{escape(labels[0])}</text>')
        parts.append(
            f'<text x="{width - 8}" y="{baseline}" text-anchor="end" font-size="11">'
            f"{escape(labels[-1])}</text>"
        )
    for number, one in enumerate(series):
        x = left + number * 140
        colour = PALETTE[number % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{height + 8}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 18}" y="{height + 18}" font-size="12">{escape(one.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def progress_bar(done: int, total: int) -> Markup:
    """A bar filled to done/total (full when total is 0 and something was done)."""
    fraction = min(done / total, 1.0) if total > 0 else (1.0 if done else 0.0)
    percent = round(fraction * 100)
    return Markup(  # noqa: S704 - numbers only
        f'<svg class="progress" viewBox="0 0 200 12" role="img" aria-label="{percent}% done" '
        f'data-percent="{percent}" xmlns="http://www.w3.org/2000/svg">'
        '<rect width="200" height="12" rx="6" fill="#e3e3e8"/>'
        f'<rect width="{200 * fraction:.1f}" height="12" rx="6" fill="#1a73e8"/></svg>'
    )


def stacked_bar(parts: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """One horizontal bar split by share (a pass type's passes by status)."""
    total = sum(value for _, value in parts)
    pieces = [
        f'<svg class="stack" viewBox="0 0 300 14" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">'
    ]
    x = 0.0
    for number, (name, value) in enumerate(parts):
        width = 300 * value / total if total else 0.0
        colour = PALETTE[number % len(PALETTE)]
        pieces.append(
            f'<rect x="{x:.1f}" width="{width:.1f}" height="14" fill="{colour}">'
            f"<title>{escape(name)}: {value}</title></rect>"
        )
        x += width
    pieces.append("</svg>")
    return Markup("".join(pieces))  # noqa: S704 - every interpolated text is escaped above
