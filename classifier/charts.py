"""Bar charts drawn on the server as SVG geometry (templates/classifier/_bar_chart.html renders
it): no chart script, nothing inline for the Content-Security-Policy to refuse. Coordinates are
in the SVG's own units; the `viewBox` scales the chart to any width."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 220
TOP = 22  # room for the value above the tallest bar
BOTTOM = 26  # room for the period labels
SIDE = 30  # room for the first and last labels, centred under their bars
BAR_SHARE = 0.7  # of each period's slot; the rest is the gap
MOST_LABELS = 6  # more periods than this: only every n-th is labelled
FEW = 6  # up to this many bars, a narrow screen keeps every label


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: str
    y: str
    width: str
    height: str
    middle: str  # x of the bar's centre, for its texts
    value_y: str
    labelled: bool
    minor: bool  # every other label, which a narrow screen leaves out (static/css/site.css)


@dataclass(frozen=True)
class BarChart:
    title: str
    description: str  # the chart in words, for people who do not see it
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = HEIGHT - BOTTOM
    label_y: int = HEIGHT - 6


def bar_chart(*, title: str, values: Sequence[tuple[str, int]]) -> BarChart:
    """One bar per (label, value), scaled so the largest fills the height (none: an empty chart)."""
    plot_height = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - 2 * SIDE) / max(len(values), 1)
    tallest = max((value for _, value in values), default=0) or 1
    every = -(-len(values) // MOST_LABELS)  # ceiling division
    bars = []
    for index, (label, value) in enumerate(values):
        from_end = len(values) - 1 - index
        height = plot_height * value / tallest
        left = SIDE + index * slot + slot * (1 - BAR_SHARE) / 2
        top = HEIGHT - BOTTOM - height
        bars.append(
            Bar(
                label=label,
                value=value,
                x=f"{left:.1f}",
                y=f"{top:.1f}",
                width=f"{slot * BAR_SHARE:.1f}",
                height=f"{height:.1f}",
                middle=f"{left + slot * BAR_SHARE / 2:.1f}",
                value_y=f"{top - 5:.1f}",
                labelled=from_end % every == 0,
                minor=len(values) > FEW and from_end % (2 * every) != 0,
            )
        )
    description = ", ".join(f"{label}: {value}" for label, value in values) or "No sightings."
    return BarChart(title=title, description=description, bars=bars)
