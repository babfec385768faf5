"""The per-day sparkline of a source, on a day axis made long by one report dated far off."""

from __future__ import annotations

from dmarctui.tui.widgets.sparkline import binned, day_axis, sparkline


def test_days_fall_into_their_column_of_the_axis() -> None:
    axis = day_axis("2024-01-01", "2024-01-05")
    assert binned([("2024-01-02", 1), ("2024-01-05", 2)], axis, 14) == [0, 1, 0, 0, 2]
    axis = day_axis("2024-01-01", "2024-03-01")  # 61 days in 14 columns
    per_day = [("2024-01-01", 3), ("2024-02-15", 5), ("2024-03-01", 1), ("2023-12-31", 9)]
    assert binned(per_day, axis, 14) == [3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 1]


def test_an_axis_of_decades_still_places_each_day() -> None:
    """A report from 1970 among 2024's: the axis is ~20,000 days; the bars stay right."""
    axis = day_axis("1970-01-01", "2024-12-31")
    per_day = [("1970-01-01", 1), ("2024-12-30", 4), ("2024-12-31", 4)]
    assert binned(per_day, axis, 14) == [1] + [0] * 12 + [8]
    assert sparkline(per_day, axis).plain == "▁" + " " * 12 + "█"
