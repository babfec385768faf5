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
    """Messages per column: ``axis`` split into at most ``width`` runs of whole days."""
    counts = dict(per_day)
    if not axis:
        return []
    columns = min(width, len(axis))
    totals = [0] * columns
    for n, day in enumerate(axis):
        totals[n * columns // len(axis)] += counts.get(day, 0)
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
