"""The dashboard's SVG charts: bars scaled to a round axis top, text escaped, progress bars
filled to their share."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from api.dashboard.charts import Series, bar_chart, progress_bar, scale_top, stacked_bar

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("highest", "top"), [(0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (11, 20), (21, 50), (501, 1000)]
)
def test_the_axis_top_is_round_and_high_enough(highest: int, top: int) -> None:
    assert scale_top(highest) == top


def test_bars_are_scaled_and_labels_escaped() -> None:
    chart = bar_chart(
        ["2026-03-01", "2026-03-02"],
        [Series("<Apple>", [5, 10]), Series("Google & co", [0, 2])],
        title='Installs "now"',
    )
    root = ET.fromstring(str(chart))  # noqa: S314 - our own markup; well-formed: text escaped
    bars = [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]
    heights = {
        (b.get("data-series"), b.get("data-value")): float(b.get("height") or 0) for b in bars
    }
    assert heights[("<Apple>", "10")] == pytest.approx(2 * heights[("<Apple>", "5")])
    assert heights[("Google & co", "0")] == 0
    assert "<Apple>" not in str(chart) and "&lt;Apple&gt;" in str(chart)


def test_progress_and_stack() -> None:
    assert re.search(r'data-percent="38"', str(progress_bar(150, 400)))
    assert 'data-percent="100"' in str(progress_bar(5, 4))
    assert 'data-percent="0"' in str(progress_bar(0, 0))
    stack = ET.fromstring(str(stacked_bar([("active", 3), ("redeemed", 1)], title="x")))  # noqa: S314
    widths = [float(rect.get("width") or 0) for rect in stack.iter(f"{SVG}rect")]
    assert widths == [225.0, 75.0]
