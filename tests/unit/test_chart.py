"""The usage chart tells the truth: every day of the range, round ticks, axis
titles, the real range in the title, each login counted once (its decision;
challenges are steps, not stacked on top), and an empty range says so."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from radmfa.reports.chart import daily_decisions_svg, round_ticks

SVG = "{http://www.w3.org/2000/svg}"
APRIL = date(2030, 4, 1)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 (our own output)


def by_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if name in (e.get("class") or "").split()]


def texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]


def month(skip: tuple[int, ...] = (5, 6, 12, 13)) -> list[tuple[date, str, int]]:
    rows = []
    for d in range(30):
        if d in skip:
            continue
        day = APRIL + timedelta(days=d)
        rows += [(day, "challenge", 60 + d), (day, "accept", 50 + d), (day, "reject", 5), (day, "drop", d % 2)]
    return rows


def test_every_day_of_the_range_is_drawn_zero_days_too() -> None:
    root = parse(daily_decisions_svg(month(), first=APRIL, last=APRIL + timedelta(days=29)))
    days = by_class(root, "day")
    assert [d.get("data-day") for d in days] == [(APRIL + timedelta(days=i)).isoformat() for i in range(30)]
    totals = {d.get("data-day"): int(d.get("data-total") or -1) for d in days}
    assert [totals[f"2030-04-{n:02d}"] for n in (6, 7, 14)] == [0, 0, 0]
    xs = [float(d.get("data-x") or 0) for d in days]  # evenly spaced, zero days keep their place
    steps = {round(b - a, 2) for a, b in zip(xs, xs[1:], strict=False)}
    assert len(steps) == 1


def test_a_login_is_counted_once_by_its_decision() -> None:
    root = parse(daily_decisions_svg(month(), first=APRIL, last=APRIL + timedelta(days=29)))
    bars = by_class(root, "bar")
    assert {b.get("data-result") for b in bars} == {"accept", "reject", "drop"}  # no challenge stacked on top
    first = {b.get("data-result"): int(b.get("data-count") or 0) for b in bars if b.get("data-day") == "2030-04-01"}
    assert first == {"accept": 50, "reject": 5}
    (day1,) = [d for d in by_class(root, "day") if d.get("data-day") == "2030-04-01"]
    assert day1.get("data-total") == "55"
    assert any("challenge" in t and "not counted" in t for t in texts(root))  # the rule is on the chart
    assert "challenge" not in [e.get("data-result") for e in by_class(root, "legend")]


@pytest.mark.parametrize(("peak", "expected"), [
    (0, [0, 1, 2, 3, 4, 5]), (1, [0, 1]), (7, [0, 2, 4, 6, 8]), (57, [0, 20, 40, 60]),
    (140, [0, 50, 100, 150]), (500, [0, 100, 200, 300, 400, 500]), (1234, [0, 500, 1000, 1500]),
])
def test_ticks_are_round_and_reach_the_peak(peak: int, expected: list[int]) -> None:
    assert round_ticks(peak) == expected


def test_the_axis_ticks_titles_and_the_real_range_are_on_the_chart() -> None:
    root = parse(daily_decisions_svg(month(), first=APRIL, last=APRIL + timedelta(days=29)))
    ticks = [int(t.get("data-value") or -1) for t in by_class(root, "y-tick")]
    assert ticks == [0, 20, 40, 60, 80, 100]  # peak: 4-30, 79 + 5 + 1 = 85
    titles = ["".join(e.itertext()) for e in by_class(root, "axis-title")]
    assert sorted(titles) == ["Day (UTC)", "Sign-in decisions per day"]
    (title,) = ["".join(e.itertext()) for e in by_class(root, "chart-title")]
    assert "2030-04-01 to 2030-04-30" in title and "30 days" in title


def test_one_day() -> None:
    day = date(2030, 4, 10)
    svg = daily_decisions_svg([(day, "accept", 52), (day, "reject", 4), (day, "challenge", 57)], first=day, last=day)
    root = parse(svg)
    (title,) = ["".join(e.itertext()) for e in by_class(root, "chart-title")]
    assert "2030-04-10" in title and "2030-04-11" not in title and " to " not in title
    (bar,) = [b for b in by_class(root, "bar") if b.get("data-result") == "accept"]
    assert float(bar.get("width") or 0) <= 60  # a bar, not a wall across the plot
    assert "56" in texts(root)  # the day's total is written on it


def test_an_empty_range_draws_the_days_and_says_there_is_nothing() -> None:
    root = parse(daily_decisions_svg([], first=APRIL, last=APRIL + timedelta(days=6)))
    assert len(by_class(root, "day")) == 7 and by_class(root, "bar") == []
    assert any(re.search(r"No sign-in decisions", t) for t in texts(root))
    assert [int(t.get("data-value") or -1) for t in by_class(root, "y-tick")] == [0, 1, 2, 3, 4, 5]


def test_text_is_escaped() -> None:
    root = parse(daily_decisions_svg([], first=APRIL, last=APRIL, filters='client "<vpn&1>"'))
    assert any('client "<vpn&1>"' in t for t in texts(root))


@pytest.mark.parametrize("days", [1, 7, 30, 31, 90, 365, 800])
def test_date_labels_never_overlap(days: int) -> None:
    first = date(2030, 3, 1)
    root = parse(daily_decisions_svg([(first, "accept", 3)], first=first, last=first + timedelta(days=days - 1)))
    labels = [(float(e.get("x") or 0), "".join(e.itertext())) for e in by_class(root, "x-label")]
    assert labels
    for (x1, t1), (x2, t2) in zip(labels, labels[1:], strict=False):
        assert x2 - x1 >= 7 * (len(t1) + len(t2)) / 2 + 8, (t1, t2)  # 12 px digits are ~7 px wide
