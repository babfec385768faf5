"""What makes switching panes cheap must not change what the user sees or can do.

The key bar replaces Textual's Footer, a one-line pane row replaces TabbedContent's tabs, pane
tables keep their rendered rows, the Sources table lists at most ``LISTED`` findings, and a
rescan that found nothing does not rank the sources again. Each test checks the user-visible
side of one of those.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from dmarctui.demo import DemoFolder
from dmarctui.tui import app as app_module
from dmarctui.tui.screens import sources as sources_module
from dmarctui.tui.screens.source_records import SourceRecordsScreen
from dmarctui.tui.screens.sources import SourcesPane
from dmarctui.tui.widgets.key_bar import KeyBar
from dmarctui.tui.widgets.pane_table import PaneTable
from dmarctui.tui.widgets.pane_tabs import PaneTabs

from .conftest import AppFactory, screen_text, settle
from .sources_support import SOURCES_KEY, demo_config_in, open_sources, sources_factory


def key_bar_line(app: Any) -> str:
    return screen_text(app).rstrip("\n").splitlines()[-1]


async def test_key_bar_follows_the_focused_pane(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        line = key_bar_line(app)
        assert line.startswith("⏎ Open / Search f Filter s Sort e Extract ? Help q Quit")
        assert line.endswith("^p palette")
        await pilot.press("4")  # Failures: a plain table, enter now listed
        await settle(pilot)
        assert key_bar_line(app).startswith("⏎ Open ? Help q Quit")
        assert "Search" not in key_bar_line(app)
        await pilot.press("1")
        await settle(pilot)
        assert "f Filter" in key_bar_line(app)


async def test_key_bar_keeps_the_palette_key_when_narrow(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(pilot)
        line = key_bar_line(app)
        assert line.startswith("⏎ Open / Search f Filter")
        assert line.endswith("^p palette")
        assert "Quit" not in line  # cut whole, never half a label


async def test_clicking_a_key_in_the_bar_presses_it(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        bar = app.screen.query_one(KeyBar)
        [help_key] = [span for span in bar.keys()[0] if "Help" in span.label.plain]
        placed = next(s for s in bar._spans if s.key == help_key.key)
        await pilot.click(KeyBar, offset=(placed.start, 0))
        await settle(pilot)
        assert "dmarctui keys" in screen_text(app)


async def test_clicking_a_pane_title_shows_and_focuses_that_pane(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        row = app.screen.query_one(PaneTabs)
        problems = next(s for s in row._spans if s.label == "6 Problems")
        await pilot.click(PaneTabs, offset=(problems.start + 1, 0))
        await settle(pilot)
        assert row.active == "problems"
        assert app.focused is not None and app.focused in app.screen.query_one("#problems").query(
            "*"
        )
        assert "173 messages = 168 aggregate" in screen_text(app)
        await pilot.click(PaneTabs, offset=(problems.end, 0))  # the gap between two titles
        await settle(pilot)
        assert row.active == "problems"


async def test_narrow_pane_row_keeps_the_shown_title_whole(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(40, 12)) as pilot:
        await settle(pilot)
        assert screen_text(app).splitlines()[1].rstrip() == " 1 Reports  2  3  4  5  6"
        await pilot.press("6")
        await settle(pilot)
        assert screen_text(app).splitlines()[1].rstrip() == " 1  2  3  4  5  6 Problems"
        three = next(s for s in app.screen.query_one(PaneTabs)._spans if s.label == "3")
        await pilot.click(PaneTabs, offset=(three.start + 1, 0))
        await settle(pilot)
        assert screen_text(app).splitlines()[1].rstrip() == " 1  2  3 Readiness  4  5  6"


async def test_a_lazy_pane_computes_only_while_shown(
    demo_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []
    compute = SourcesPane.compute

    def counted(self: SourcesPane) -> None:
        runs.append(1)
        compute(self)

    monkeypatch.setattr(SourcesPane, "compute", counted)
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert runs == []  # hidden since start: the ranking has not run
        await pilot.press(SOURCES_KEY)
        await settle(pilot)
        assert len(runs) == 1
        await pilot.press("1")
        app.main_screen.reload_panes()  # the index changed while Sources is hidden
        await settle(pilot)
        assert len(runs) == 1
        await pilot.press(SOURCES_KEY)
        await settle(pilot)
        assert len(runs) == 2
        await pilot.press("tab", "shift+tab")  # shown again, index unchanged: no new run
        await settle(pilot)
        assert len(runs) == 2


async def test_enter_on_a_pane_table_opens_the_line(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6", "enter")
        await settle(pilot)
        text = screen_text(app)
        assert "Message " in text and "truncated gzip" in text


async def test_pane_table_redraws_for_a_new_theme_after_switching(demo_app: AppFactory) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("6", "1", "6")
        await settle(pilot)
        table = app.screen.query_one("#problems-table", PaneTable)
        dark = next(iter(table.render_line(2))).style
        await pilot.press("ctrl+t")
        await settle(pilot)
        light = next(iter(table.render_line(2))).style
        assert dark is not None and light is not None
        assert dark.bgcolor != light.bgcolor


@pytest.fixture
def few_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources_module, "LISTED", 3)


async def test_sources_table_says_when_it_is_cut(
    few_listed: None, demo_app: AppFactory, demo_folder: DemoFolder, tmp_path: Path
) -> None:
    app = sources_factory(demo_app, demo_config_in(demo_folder, tmp_path))()
    async with app.run_test(size=(100, 30)) as pilot:
        sources = await open_sources(pilot)
        assert sources.table.row_count == 3
        assert (
            "7 sources need action · 9 findings, first 3 listed · 1 informational hidden (a)"
            in screen_text(app)
        )
        await pilot.press("a")
        assert sources.table.row_count == 3
        assert "8 sources · 10 findings, first 3 listed" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SourceRecordsScreen)


async def test_a_rescan_that_finds_nothing_does_not_rank_again(
    demo_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[int] = []
    compute = SourcesPane.compute

    def counted(pane: SourcesPane) -> None:
        runs.append(1)
        compute(pane)

    monkeypatch.setattr(SourcesPane, "compute", counted)
    # No throttle: the rule must hold however long ago the lists were last reloaded (with the
    # one-second throttle this test depended on how fast the tests before it left the machine).
    monkeypatch.setattr(app_module, "RELOAD_EVERY", 0.0)
    app = demo_app(dns=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(SOURCES_KEY)
        await settle(pilot)
        await settle(pilot)
        assert len(runs) >= 1
        ranked = len(runs)
        await pilot.press("r")
        await settle(pilot)
        stats = app.last_stats
        assert stats is not None
        assert (stats.new, stats.changed, stats.gone, stats.moved) == (0, 0, 0, 0)
        assert len(runs) == ranked
        assert gc.get_freeze_count() > 0  # the findings are exempt from full collections


async def test_end_in_sources_goes_to_the_last_source_not_the_last_page(
    demo_app: AppFactory, demo_folder: DemoFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources_module, "ROWS_PAGE", 4)  # the demo's ten findings: three pages
    app = sources_factory(demo_app, demo_config_in(demo_folder, tmp_path))()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        await pilot.press("a")
        await settle(pilot)
        listed = len(sources.shown)
        assert sources.table.row_count < listed
        await pilot.press("end")
        await settle(pilot)
        assert sources.table.row_count == listed
        assert sources.table.cursor_row == listed - 1
