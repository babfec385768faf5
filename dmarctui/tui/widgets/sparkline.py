"""A per-day sparkline that fits in a table cell (Textual's ``Sparkline`` is a whole widget)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from rich.text import Text

BARS = "▁▂▃▄▅▆▇█"


def day_axis(first: str, last: str) -> list[str]:
    """Every ISO day from ``first`` to ``last`` inclusive, so quiet days show as gaps."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def binned(per_day: Iterable[tuple[str, int]], axis: list[str], width: int) -> list[int]:
    """Messages per column: ``axis`` (consecutive days, as :func:`day_axis` makes) split into at
    most ``width`` runs of whole days.

    Walks the source's days, not the axis: one report dated decades off makes the axis tens of
    thousands of days long, and walking it for each of a thousand rows froze the UI for seconds.
    """
    if not axis:
        return []
    start, length = date.fromisoformat(axis[0]), len(axis)
    columns = min(width, length)
    totals = [0] * columns
    for day, count in dict(per_day).items():
        n = (date.fromisoformat(day) - start).days
        if 0 <= n < length:
            totals[n * columns // length] += count
    return totals


def sparkline(per_day: Iterable[tuple[str, int]], axis: list[str], width: int = 14) -> Text:
    """Bars scaled to the busiest column; a day without messages is a blank, not a low bar."""
    totals = binned(per_day, axis, width)
    peak = max(totals, default=0)
    text = Text(no_wrap=True)
    for total in totals:
        if total == 0 or peak == 0:
            text.append(" ")
        else:
            text.append(BARS[min(len(BARS) - 1, (total * len(BARS) - 1) // peak)])
    return text
