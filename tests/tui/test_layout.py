"""Layout at small and large terminals: readable columns, a title that keeps the report ID."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from textual.widgets import Label

from dmarctui.config import Config
from dmarctui.demo import DemoFolder
from dmarctui.model import FailureReport
from dmarctui.tui.report_cells import COLUMNS, TEXT_MAX, TEXT_MIN, column_widths
from dmarctui.tui.report_text import report_title
from dmarctui.tui.screens.failures import FIELD_LABELS
from dmarctui.tui.widgets.report_list import ReportList
from dmarctui.tui.widgets.scrolling import KeyScroll

from .conftest import AppFactory, screen_text, settle
from .sources_support import SourcesApp, demo_config_in, open_sources, sources_factory

TEXT_COLUMNS = [n for n, c in enumerate(COLUMNS) if c.width == 0]


@pytest.fixture
def sources_app(demo_app: AppFactory, demo_folder: DemoFolder, tmp_path: Path) -> SourcesApp:
    config: Config = demo_config_in(demo_folder, tmp_path)
    return sources_factory(demo_app, config)


@pytest.mark.parametrize("width", [59, 79, 119, 159, 239])
def test_report_columns_keep_readable_text_and_fit(width: int) -> None:
    widths = column_widths(width)
    shown = [w for w in widths if w]
    assert sum(shown) + len(shown) - 1 <= width
    for n in TEXT_COLUMNS:
        assert TEXT_MIN <= widths[n] <= TEXT_MAX, (width, widths)
    if width >= 79:
        assert all(widths), "at 80 columns every column is shown"


async def test_at_60_columns_reporter_and_domain_stay_readable(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "cs.univ.exa" in text and "Enterprise O" in text
        assert "Recs" not in text  # a number column gave way, not the names


async def test_at_160_columns_names_are_not_stretched(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        header = next(line for line in screen_text(app).splitlines() if "Reporter" in line)
        assert header.index("Domain") - header.index("Reporter") == TEXT_MAX + 1


async def test_at_80_columns_the_report_title_shortens_the_id(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        reports = app.screen.query_one(ReportList)
        rows = [reports.cache.get(n) for n in range(reports.row_count)]
        longest = max((r for r in rows if r), key=lambda r: len(r.org_name) + len(r.report_id))
        wide = report_title(longest, 200).plain
        assert len(wide) > 78, "the demo has a title too long for 80 columns"
        reports.cursor = rows.index(longest)
        await pilot.press("enter")
        await settle(pilot)
        title = screen_text(app).splitlines()[0]
        shown = report_title(longest, 78).plain
        assert shown in title
        assert shown.endswith(longest.report_id[-4:]) and "…" in shown
        assert longest.report_id[:4] in shown


async def test_readiness_at_60_columns_keeps_receiver_names_whole(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press(*["j"] * 12)
        text = screen_text(app)
        assert "seen by AMAZON-SES, Enterprise Outlook," in text  # names whole, not 2 a line


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_sources_detail_shows_all_its_advice(
    sources_app: SourcesApp, size: tuple[int, int]
) -> None:
    app = sources_app()
    async with app.run_test(size=size) as pilot:
        sources = await open_sources(pilot)
        detail = app.screen.query_one("#source-detail", KeyScroll)
        for _ in range(len(sources.shown)):
            current = sources.current
            assert current is not None
            for _ in range(20):  # J scrolls what does not fit; at 160×48 everything fits
                text = screen_text(app).replace("\n", "").replace(" ", "")
                if current.advice.replace(" ", "")[-30:] in text:
                    break
                assert size != (160, 48), "the advice was cut at 160×48"
                await pilot.press("J")
            else:
                raise AssertionError(f"the end of the advice for {current.source_ip} never shows")
            if size == (160, 48):
                assert detail.max_scroll_y == 0
            await pilot.press("down")
            await settle(pilot)


def test_every_failure_report_field_has_a_readable_label() -> None:
    names = {f.name for f in fields(FailureReport)} - {"arrival_epoch"}  # shown as Arrived
    assert names == set(FIELD_LABELS)
    assert all("_" not in label for label in FIELD_LABELS.values())


async def test_the_failure_detail_shows_labels_not_field_names(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("4", "enter")
        await settle(pilot)
        text = screen_text(app)
        assert "Feedback type" in text or "Failed check" in text
        assert "feedback_type" not in text and "original_from" not in text


async def test_at_60_columns_the_sources_status_wraps_instead_of_cutting(
    sources_app: SourcesApp,
) -> None:
    app = sources_app()
    async with app.run_test(size=(60, 20)) as pilot:
        sources = await open_sources(pilot)
        sources.marked.update(f.source_ip for f in sources.shown[:2])
        sources._show_status()
        await settle(pilot)
        status = str(sources.query_one("#sources-status", Label).render())
        assert len(status) > 58 and status.endswith("informational hidden (a)")
        lines = screen_text(app).splitlines()
        first = next(n for n, line in enumerate(lines) if "need action" in line)
        shown = " ".join(line.strip() for line in lines[first : first + 3])
        assert " ".join(status.split()) in " ".join(shown.split())
