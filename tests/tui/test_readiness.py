"""The Readiness pane on the demo folder: the per-domain table of ``dmarctui.readiness``."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dmarctui.config import Config
from dmarctui.demo import DemoFolder
from dmarctui.readiness import DayCounts, Readiness, readiness
from dmarctui.tui.screens import readiness as readiness_screen
from dmarctui.tui.screens.readiness import RECENT_DAYS, ReadinessPane, days_table

from .conftest import MAIN_SIZES, AppFactory, screen_text, settle
from .sources_support import READINESS_KEY, SourcesApp, demo_config_in, sources_factory


@pytest.fixture
def demo_config(demo_folder: DemoFolder, tmp_path: Path) -> Config:
    return demo_config_in(demo_folder, tmp_path)


@pytest.fixture
def sources_app(demo_app: AppFactory, demo_config: Config) -> SourcesApp:
    return sources_factory(demo_app, demo_config)


async def open_readiness(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    await pilot.press(READINESS_KEY)
    await settle(pilot)


async def test_readiness_shows_the_demo_domain(
    sources_app: SourcesApp, demo_config: Config
) -> None:
    app = sources_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await open_readiness(pilot)
        [expected] = readiness(list(app.index.counted_reports()), demo_config)
        assert expected.domain == "cs.univ.example" and not expected.ready
        text = screen_text(app)
        assert "1 domain · 0 ready for a stricter policy" in text
        assert (
            f"cs.univ.example  not ready: {expected.failed_legit:,} messages from legitimate"
            " sources fail DMARC"
        ) in text
        assert (
            f"total     {expected.passed:,}       {expected.failed_legit:,}"
            f"           {expected.failed_outside:,}       {expected.enforced:,}"
        ) in text
        hit = {str(kind): n for kind, n in expected.would_quarantine.items()}
        for label, kind in (
            ("third party", "unaligned_third_party"),
            ("DKIM broken", "dkim_broken"),
            ("spoofing", "outside_spoofing"),
        ):
            count = hit[kind]
            assert any(
                line.strip().startswith(label) and line.strip().endswith(f"{count:,}")
                for line in text.splitlines()
            )
        assert "Receivers saw 2 different published policies" in text
        assert "p=none; sp=none; adkim=r; aspf=r; pct=100" in text
        assert "p=quarantine; sp=none; adkim=r; aspf=r; pct=100" in text

        await pilot.press("G")
        await pilot.pause()
        bottom = screen_text(app)
        last = expected.days[-1]
        assert re.search(
            rf"{last.day}\s+{last.passed:,}\s+{last.failed_legit:,}\s+{last.failed_outside:,}\b",
            bottom,
        )


async def test_readiness_runs_only_once_shown(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert "Counting" in str(app.main_screen.query_one("#readiness-status").render())
        await open_readiness(pilot)
        assert "1 domain ·" in screen_text(app)
        assert app.main_screen.query_one(ReadinessPane).display


SIZES = MAIN_SIZES


@pytest.mark.parametrize("size", SIZES)
def test_readiness_snapshot(
    size: tuple[int, int], sources_app: SourcesApp, snap_compare: Any
) -> None:
    assert snap_compare(sources_app(), terminal_size=size, run_before=open_readiness)


async def test_readiness_figures_are_built_in_the_worker(
    sources_app: SourcesApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-domain renderables come from the compute thread; the main thread only shows them."""
    threads: list[threading.Thread] = []
    build = readiness_screen.domain_view

    def recording(item: Readiness) -> Any:
        threads.append(threading.current_thread())
        return build(item)

    monkeypatch.setattr(readiness_screen, "domain_view", recording)
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_readiness(pilot)
        assert "1 domain ·" in screen_text(app)
    assert threads, "the figures were never built"
    assert threading.main_thread() not in threads


def test_days_table_is_bounded_over_a_year() -> None:
    """A year and more of days is the last RECENT_DAYS days plus one row a month, same totals."""
    start = date(2024, 1, 1)
    days = tuple(
        DayCounts(
            (start + timedelta(days=n)).isoformat(), passed=n, failed_legit=1, failed_outside=2
        )
        for n in range(400)
    )
    item = Readiness(domain="example.org", days=days, affected=(), enforced=0)
    table = days_table(item)
    earlier_days = len(days) - RECENT_DAYS
    months = len({d.day[:7] for d in days[:earlier_days]})
    assert table.row_count == months + RECENT_DAYS <= RECENT_DAYS + 14
    cells = [list(column.cells) for column in table.columns]
    labels = [str(c) for c in cells[0]]
    assert labels[:2] == ["2024-01", "2024-02"]
    assert labels[months - 1] == "2025-01-01–20"  # the month the per-day rows go on with
    assert labels[months:] == [d.day for d in days[earlier_days:]]
    for column, field in ((1, "passed"), (2, "failed_legit"), (3, "failed_outside")):
        shown = sum(int(str(c).replace(",", "")) for c in cells[column])
        assert shown == sum(getattr(d, field) for d in days)
    text = readiness_screen.days_caption(item)
    assert text is not None and "400 days with reports, 2024-01-01 to 2025-02-03" in text.plain
