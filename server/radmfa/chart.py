"""The daily volume chart of `radmfa report usage --chart FILE.svg`.

SVG written by hand: a stacked bar per day, one colour per result, with axes,
a few gridlines and a legend. Pure (no I/O, no clock): counts in, text out.
A plotting library (matplotlib pulls in numpy and Pillow) would be most of
radmfa's install for one picture; SVG opens in every browser and office suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

# Colour-blind-safe (Okabe-Ito) and in reports.RESULTS order.
COLOURS = {"accept": "#009E73", "reject": "#D55E00", "challenge": "#56B4E9", "drop": "#999999"}
_OTHER = "#CC79A7"

WIDTH, HEIGHT = 960, 420
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 150, 40, 56


def _nice_top(peak: int) -> int:
    """The smallest 1/2/5 × 10^n at or above ``peak``: round gridline values."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= peak:
                return m * step
        step *= 10


def daily_volume_svg(counts: Iterable[Sequence[str | int]], *, title: str) -> str:
    """``counts``: rows of (ISO day, result, count), as the usage report gives them."""
    days: dict[str, dict[str, int]] = {}
    for day, result, count in counts:
        days.setdefault(str(day), {})[str(result)] = int(count)
    order = sorted(days)
    results = [r for r in COLOURS if any(r in d for d in days.values())]
    results += sorted({r for d in days.values() for r in d} - set(COLOURS))
    peak = max((sum(d.values()) for d in days.values()), default=0)
    top = _nice_top(max(peak, 1))
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    slot = plot_w / max(len(order), 1)
    bar_w = max(slot * 0.8, 0.5)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{_LEFT}" y="24" font-size="15">{escape(title)}</text>',
    ]
    for i in range(5):  # gridlines and y labels at 0, ¼, ½, ¾, top
        value = top * i // 4
        y = _TOP + plot_h - plot_h * i / 4
        out.append(f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}" stroke="#dddddd"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>')
    for i, day in enumerate(order):
        x = _LEFT + i * slot + (slot - bar_w) / 2
        y = _TOP + plot_h
        for result in results:
            n = days[day].get(result, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            colour = COLOURS.get(result, _OTHER)
            out.append(
                f'<rect class="bar" data-day="{day}" data-result="{escape(result)}" data-count="{n}" '
                f'x="{x:.2f}" y="{y:.2f}" width="{bar_w:.2f}" height="{h:.2f}" fill="{colour}">'
                f"<title>{day} {escape(result)}: {n}</title></rect>"
            )
    every = max(1, len(order) // 8)  # about eight date labels, whatever the range
    for i in range(0, len(order), every):
        x = _LEFT + i * slot + slot / 2
        out.append(f'<text x="{x:.1f}" y="{_TOP + plot_h + 18}" text-anchor="middle">{order[i]}</text>')
    out.append(
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_LEFT + plot_w}" y2="{_TOP + plot_h}" stroke="#333333"/>'
    )
    for i, result in enumerate(results):
        y = _TOP + 10 + i * 20
        x = WIDTH - _RIGHT + 16
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLOURS.get(result, _OTHER)}"/>')
        out.append(f'<text x="{x + 18}" y="{y}">{escape(result)}</text>')
    if not order:
        out.append(f'<text x="{_LEFT + 10}" y="{_TOP + plot_h / 2}">no authentications in this range</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
