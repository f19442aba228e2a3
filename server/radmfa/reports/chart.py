"""The daily chart of `radmfa report usage --chart FILE.svg`.

One bar per day of the range, days without a decision included, stacked by
the decision: accept, reject, drop. A login is counted once, by its final
answer; an Access-Challenge is a step inside a login (the same login is
accepted or rejected later), so challenges are left out rather than stacked
on top, which would count a challenged login twice.

SVG written by hand, pure (no I/O, no clock): counts in, text out. A plotting
library (matplotlib pulls in numpy and Pillow) would be most of radmfa's
install for one picture; SVG opens in every browser and office suite.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from xml.sax.saxutils import escape, quoteattr

# Colour-blind-safe (Okabe-Ito); the decisions in the order they stack.
COLOURS = {"accept": "#009E73", "reject": "#D55E00", "drop": "#999999"}
LABELS = {"accept": "accept", "reject": "reject", "drop": "drop (no answer sent)"}
_OTHER = "#CC79A7"  # a result this version does not name
NOT_DECISIONS = ("challenge",)
RULE = "Each sign-in counted once, by its final answer; challenges are steps within a sign-in, not counted."

WIDTH, HEIGHT = 960, 460
_LEFT, _RIGHT, _TOP, _BOTTOM = 76, 24, 92, 64
_MAX_BAR = 56  # a one-day chart is a bar, not a wall
_CHAR_W = 7  # about the width of a 12 px sans-serif digit
_LABEL_PAD = 14  # pixels between two date labels at least


@dataclass(frozen=True, slots=True)
class _Plot:
    days: list[date]
    totals: dict[date, dict[str, int]]
    results: list[str]
    ticks: list[int]

    @property
    def width(self) -> int:
        return WIDTH - _LEFT - _RIGHT

    @property
    def height(self) -> int:
        return HEIGHT - _TOP - _BOTTOM

    @property
    def slot(self) -> float:
        return self.width / len(self.days)

    def x(self, i: int) -> float:
        """The middle of day ``i``'s slot."""
        return _LEFT + (i + 0.5) * self.slot

    def y(self, value: float) -> float:
        return _TOP + self.height - self.height * value / self.ticks[-1]


def round_ticks(peak: int) -> list[int]:
    """0 to the first multiple of a 1/2/5 × 10ⁿ step at or above ``peak``,
    in at most five steps: values a reader can read off the gridlines."""
    if peak <= 0:
        return [0, 1, 2, 3, 4, 5]
    step = 1
    while True:
        for m in (1, 2, 5):
            if math.ceil(peak / (m * step)) <= 5:
                top = math.ceil(peak / (m * step)) * m * step
                return list(range(0, top + 1, m * step))
        step *= 10


def daily_decisions_svg(
    counts: Iterable[Sequence[object]], *, first: date, last: date, filters: str = ""
) -> str:
    """``counts``: rows of (day, result, count), day a ``date`` or ISO text;
    every day from ``first`` to ``last`` (inclusive) gets a slot."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    totals: dict[date, dict[str, int]] = {day: {} for day in days}
    for day, result, count in counts:
        when = day if isinstance(day, date) else date.fromisoformat(str(day))
        if str(result) not in NOT_DECISIONS and when in totals:
            totals[when][str(result)] = totals[when].get(str(result), 0) + int(str(count))
    seen = {r for by_result in totals.values() for r in by_result}
    results = [r for r in COLOURS if r in seen] + sorted(seen - set(COLOURS))
    peak = max((sum(by_result.values()) for by_result in totals.values()), default=0)
    plot = _Plot(days, totals, results, round_ticks(peak))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" fill="#222222">',
        f"<title>{escape(_title(days))}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        *_header(days, results, filters),
        *_y_axis(plot),
        *_bars(plot),
        *_x_axis(plot),
    ]
    if peak == 0:
        out.append(
            f'<text class="note" x="{_LEFT + plot.width / 2:.1f}" y="{_TOP + plot.height / 2:.1f}" '
            'text-anchor="middle" font-size="15" fill="#555555">No sign-in decisions in this range</text>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _title(days: list[date]) -> str:
    if len(days) == 1:
        return f"radmfa sign-in decisions on {days[0].isoformat()} (UTC)"
    return f"radmfa sign-in decisions per day, {days[0].isoformat()} to {days[-1].isoformat()} ({len(days)} days, UTC)"


def _header(days: list[date], results: list[str], filters: str) -> list[str]:
    note = RULE + (f" Only {filters}." if filters else "")
    out = [
        f'<text class="chart-title" x="{_LEFT}" y="28" font-size="16" font-weight="bold">'
        f"{escape(_title(days))}</text>",
        f'<text x="{_LEFT}" y="48" font-size="12" fill="#555555">{escape(note)}</text>',
    ]
    x = float(_LEFT)
    for result in results or list(COLOURS):  # an empty chart still says what it would show
        label = LABELS.get(result, result)
        out.append(
            f'<g class="legend" data-result={quoteattr(result)}>'
            f'<rect x="{x:.1f}" y="62" width="12" height="12" fill="{COLOURS.get(result, _OTHER)}"/>'
            f'<text x="{x + 17:.1f}" y="72">{escape(label)}</text></g>'
        )
        x += 36 + _CHAR_W * len(label)
    return out


def _y_axis(plot: _Plot) -> list[str]:
    out = []
    for value in plot.ticks:
        y = plot.y(value)
        out.append(
            f'<g class="y-tick" data-value="{value}">'
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot.width}" y2="{y:.1f}" stroke="#dddddd"/>'
            f'<text x="{_LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text></g>'
        )
    middle = _TOP + plot.height / 2
    out.append(
        f'<text class="axis-title" x="24" y="{middle:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 24 {middle:.1f})">Sign-in decisions per day</text>'
    )
    return out


def _bars(plot: _Plot) -> list[str]:
    bar_w = min(plot.slot * 0.7, _MAX_BAR)
    out = []
    for i, day in enumerate(plot.days):
        by_result = plot.totals[day]
        total = sum(by_result.values())
        x = plot.x(i)
        out.append(f'<g class="day" data-day="{day.isoformat()}" data-total="{total}" data-x="{x:.3f}">')
        y = plot.y(0)
        for result in plot.results:
            n = by_result.get(result, 0)
            if not n:
                continue
            top = plot.y(sum(by_result.get(r, 0) for r in plot.results[: plot.results.index(result) + 1]))
            out.append(
                f'<rect class="bar" data-day="{day.isoformat()}" data-result={quoteattr(result)} data-count="{n}" '
                f'x="{x - bar_w / 2:.2f}" y="{top:.2f}" width="{bar_w:.2f}" height="{y - top:.2f}" '
                f'fill="{COLOURS.get(result, _OTHER)}"><title>{day.isoformat()} {escape(result)}: {n:,}</title></rect>'
            )
            y = top
        if plot.slot >= 6 * len(f"{total:,}") + 4:  # the day's total over its bar, where it fits
            out.append(
                f'<text x="{x:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="10" '
                f'fill="#555555">{total:,}</text>'
            )
        out.append("</g>")
    return out


def _date_labels(plot: _Plot) -> list[tuple[float, str]]:
    """Dates under the axis, never overlapping: each day (MM-DD within one
    year) as far apart as their text needs; beyond two months, each month's
    first day (YYYY-MM)."""
    days = plot.days
    months = len(days) > 62
    one_year = days[0].year == days[-1].year and len(days) > 1
    labels: list[tuple[float, str]] = []
    for i, day in enumerate(days):
        if months and day.day != 1:
            continue
        text = day.strftime("%Y-%m") if months else day.strftime("%m-%d") if one_year else day.isoformat()
        x = plot.x(i)
        if not labels or x - labels[-1][0] >= _CHAR_W * (len(text) + len(labels[-1][1])) / 2 + _LABEL_PAD:
            labels.append((x, text))
    return labels


def _x_axis(plot: _Plot) -> list[str]:
    base = plot.y(0)
    out = [f'<line x1="{_LEFT}" y1="{base:.1f}" x2="{_LEFT + plot.width}" y2="{base:.1f}" stroke="#333333"/>']
    for i, _ in enumerate(plot.days):
        if plot.slot >= 3:  # a tick per day, where days are wide enough to tell apart
            x = plot.x(i)
            out.append(f'<line x1="{x:.1f}" y1="{base:.1f}" x2="{x:.1f}" y2="{base + 4:.1f}" stroke="#333333"/>')
    for x, label in _date_labels(plot):
        out.append(f'<text class="x-label" x="{x:.1f}" y="{base + 18:.1f}" text-anchor="middle">{label}</text>')
    out.append(
        f'<text class="axis-title" x="{_LEFT + plot.width / 2:.1f}" y="{HEIGHT - 14}" '
        'text-anchor="middle">Day (UTC)</text>'
    )
    return out
