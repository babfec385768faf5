"""The README key tables are the contract: every key they list does its job wherever it applies.

The tables are parsed from the README, so a key added there without a check here fails
``test_every_key_in_the_readme_is_checked``; movement keys are walked over every list and every
long view (report tabs, a source's records, failure and TLS details, help, the letter).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input, Label

from dmarctui.config import Config
from dmarctui.demo import DemoFolder
from dmarctui.tui.app import DmarcApp
from dmarctui.tui.panes import PANES
from dmarctui.tui.report_export import default_reports_dir
from dmarctui.tui.screens.decision import DecisionScreen
from dmarctui.tui.screens.fields import FieldsScreen
from dmarctui.tui.screens.filter import FilterScreen
from dmarctui.tui.screens.help import HelpScreen
from dmarctui.tui.screens.notice import NoticeScreen
from dmarctui.tui.screens.prompt import PromptScreen
from dmarctui.tui.screens.report_detail import ReportScreen
from dmarctui.tui.screens.reports import ReportsPane
from dmarctui.tui.screens.sort import SortScreen
from dmarctui.tui.screens.source_records import SourceRecordsScreen
from dmarctui.tui.screens.sources import SourcesPane
from dmarctui.tui.widgets.report_list import ReportList
from dmarctui.tui.widgets.scrolling import KeyScroll, KeyTable

from .conftest import AppFactory, screen_text, settle
from .sources_support import SourcesApp, demo_config_in, sources_factory

README = Path(__file__).resolve().parents[2] / "README.md"
SYMBOLS = {
    "↑": "up",
    "↓": "down",
    "←": "left",
    "→": "right",
    "PgUp": "pageup",
    "PgDn": "pagedown",
    "Home": "home",
    "End": "end",
    "Enter": "enter",
    "/": "slash",
    "?": "question_mark",
    "F1": "f1",
}
MOVES = {"up", "down", "j", "k", "pageup", "pagedown", "g", "G", "home", "end"}
SIDEWAYS = {"left", "right", "h", "l"}


def _keys_of(cell: str) -> list[str]:
    """``\\`1\\`…\\`6\\`, \\`tab\\``` → 1…6, tab; ``\\`↑↓\\` \\`j k\\``` → up, down, j, k."""
    keys: list[str] = []
    for first, last in re.findall(r"`(\d)`…`(\d)`", cell):
        keys += [str(n) for n in range(int(first), int(last) + 1)]
    cell = re.sub(r"`\d`…`\d`", "", cell)
    for token in re.findall(r"`([^`]+)`", cell):
        for word in token.split():
            if word in SYMBOLS:
                keys.append(SYMBOLS[word])
            elif all(char in SYMBOLS for char in word):
                keys += [SYMBOLS[char] for char in word]
            else:
                keys.append(word)
    return keys


def readme_tables() -> dict[str, list[str]]:
    """The keys of the main table (between the KEYS markers) and of the Sources table."""
    text = README.read_text(encoding="utf-8")
    main = text[text.index("<!-- KEYS -->") : text.index("<!-- /KEYS -->")]
    sources_part = text[text.index("### Sources, notices and readiness") :]
    sources = sources_part[: sources_part.index("\n\n", sources_part.index("| Key | Does |"))]

    def first_cells(table: str) -> list[str]:
        rows = [line for line in table.splitlines() if line.startswith("| ")]
        return [key for row in rows[1:] for key in _keys_of(row.split(" | ")[0])]

    return {"main": first_cells(main), "sources": first_cells(sources)}


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture
def config(demo_folder: DemoFolder, tmp_path: Path) -> Config:
    return demo_config_in(demo_folder, tmp_path)


@pytest.fixture
def app_with_config(demo_app: AppFactory, config: Config) -> SourcesApp:
    return sources_factory(demo_app, config)


async def press(pilot: Pilot[Any], *keys: str) -> None:
    for key in keys:  # one at a time: a pane shown may compute in a worker first
        await pilot.press(key)
        await settle(pilot)


# ---------------------------------------------------------------------------- the table


def test_every_key_in_the_readme_is_checked() -> None:
    tables = readme_tables()
    checked = MOVES | SIDEWAYS | set(MAIN_CHECKS)
    assert set(tables["main"]) <= checked, set(tables["main"]) - checked
    assert set(tables["main"]) >= MOVES | SIDEWAYS, "the README lost a movement key"
    assert set(tables["sources"]) <= set(SOURCES_CHECKS), set(tables["sources"]) - set(
        SOURCES_CHECKS
    )
    assert {"1", "6", "tab", "shift+tab", "question_mark", "f1", "q"} <= set(tables["main"])


# ---------------------------------------------------------------------------- movement

VIEWS: dict[str, tuple[str, ...]] = {
    "reports": (),
    "sources": ("2",),
    "readiness": ("3",),
    "report summary": ("enter",),
    "report records": ("enter", "2"),
    "report XML": ("enter", "3"),
    "report headers": ("enter", "4"),
    "failure detail": ("4", "enter"),
    "TLS detail": ("5", "enter"),
    "help": ("question_mark",),
    "source records": ("2", "enter"),
    "notice preview": ("2", "down", "down", "down", "down", "n"),
}
SMALL = (80, 16)
"""Small enough that every view is longer than the screen, as real ones are at 80×24."""
SMALLER = {"report headers": (80, 12)}
"""The demo's headers are short; a relay or two more makes real ones longer than 80×24."""


def _position(widget: Widget) -> tuple[int, int]:
    """(where the view is, where its end is): cursor row for lists, scroll offset for text."""
    if isinstance(widget, ReportList):
        return widget.cursor, widget.row_count - 1
    if isinstance(widget, DataTable):
        return widget.cursor_row, widget.row_count - 1
    assert isinstance(widget, KeyScroll), f"the keys go to {widget!r}, not to the view"
    return round(widget.scroll_y), widget.max_scroll_y


@pytest.mark.parametrize("view", list(VIEWS))
async def test_movement_keys_scroll_every_long_view(view: str, app_with_config: SourcesApp) -> None:
    app = app_with_config()
    async with app.run_test(size=SMALLER.get(view, SMALL)) as pilot:
        await settle(pilot)
        await press(pilot, *VIEWS[view])
        focused = app.focused
        assert focused is not None

        def at() -> int:
            return _position(focused)[0]

        end = _position(focused)[1]
        assert end >= 3, f"{view} is too short to show that the keys move"
        expected = [("g", 0), ("j", 1), ("j", 2), ("k", 1), ("down", 2), ("up", 1)]
        expected += [("G", end), ("g", 0), ("end", end), ("home", 0)]
        for key, where in expected:
            await press(pilot, key)
            assert at() == where, f"{view}: {key} went to {at()}, not {where}"
        await press(pilot, "pagedown")
        paged = at()
        assert paged > 2, f"{view}: pagedown went to {paged}"
        await press(pilot, "pageup")
        assert at() < paged, f"{view}: pageup did not go back"


SIDE_VIEWS = {"report records": VIEWS["report records"], "source records": VIEWS["source records"]}


@pytest.mark.parametrize("view", list(SIDE_VIEWS))
async def test_wide_tables_scroll_sideways(view: str, app_with_config: SourcesApp) -> None:
    app = app_with_config()
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        await press(pilot, *SIDE_VIEWS[view])
        table = app.focused
        assert isinstance(table, KeyTable)
        assert table.max_scroll_x > 0
        for right, left in (("right", "left"), ("l", "h")):
            await press(pilot, right, right)
            assert table.scroll_x > 0, f"{view}: {right} did not scroll"
            await press(pilot, left, left)
            assert table.scroll_x == 0, f"{view}: {left} did not scroll back"


async def test_the_end_of_a_recovered_reports_repairs_is_reachable(
    app_with_config: SourcesApp,
) -> None:
    app = app_with_config()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        reports = app.screen.query_one(ReportList)
        rows = [reports.cache.get(n) for n in range(reports.row_count)]
        recovered = next(n for n, row in enumerate(rows) if row and row.status == "recovered")
        await press(pilot, "g", *["j"] * recovered, "enter")
        assert isinstance(app.screen, ReportScreen)
        assert "Repaired / normalised" not in screen_text(app)
        await press(pilot, "G")
        assert "Repaired / normalised" in screen_text(app)


# ---------------------------------------------------------------------------- other keys

Check = Callable[[Pilot[Any], DmarcApp], Awaitable[None]]


def _reports(app: DmarcApp) -> ReportsPane:
    return app.main_screen.query_one(ReportsPane)


async def _panes(pilot: Pilot[Any], app: DmarcApp) -> None:
    for number in [2, 3, 4, 5, 6, 1]:
        await press(pilot, str(number))
        pane = app.main_screen.active_pane
        assert pane is not None and pane.PANE_ID == PANES[number - 1].PANE_ID


async def _tabs(pilot: Pilot[Any], app: DmarcApp) -> None:
    await press(pilot, "tab")
    assert app.main_screen.active_pane is not None
    assert app.main_screen.active_pane.PANE_ID == PANES[1].PANE_ID
    await press(pilot, "shift+tab", "shift+tab")
    assert app.main_screen.active_pane.PANE_ID == PANES[-1].PANE_ID


async def _enter(pilot: Pilot[Any], app: DmarcApp) -> None:
    await press(pilot, "enter")
    assert isinstance(app.screen, ReportScreen)
    for number, tab in enumerate(("summary", "records", "xml", "headers"), start=1):
        await press(pilot, str(number))
        assert app.screen.query_one("#report-tabs").active == tab  # type: ignore[attr-defined]
    await press(pilot, "escape", "2", "enter")
    assert isinstance(app.screen, SourceRecordsScreen)
    for pane in ("4", "5", "6"):
        await press(pilot, "escape", pane, "enter")
        assert isinstance(app.screen, FieldsScreen), pane


async def _search(pilot: Pilot[Any], app: DmarcApp) -> None:
    await press(pilot, "slash")
    assert isinstance(app.screen, PromptScreen)
    await press(pilot, *"google", "enter")
    assert "168 reports" not in screen_text(app)
    await press(pilot, "slash")
    assert app.screen.query_one(Input).value == "", "the search box opens empty"
    assert "now: google" in screen_text(app)
    await press(pilot, "enter")
    assert _reports(app).report_list.row_count == 168


async def _filter(pilot: Pilot[Any], app: DmarcApp) -> None:
    await press(pilot, "f")
    assert isinstance(app.screen, FilterScreen)


async def _sort(pilot: Pilot[Any], app: DmarcApp) -> None:
    await press(pilot, "s")
    assert isinstance(app.screen, SortScreen)
    await press(pilot, *["down"] * 6, "enter")  # failing messages
    pane = _reports(app)
    assert (pane.sort, pane.descending) == ("failed", True)


async def _failing_first(pilot: Pilot[Any], app: DmarcApp) -> None:
    await press(pilot, "x")
    pane = _reports(app)
    failed = [row.failed for n in range(20) if (row := pane.report_list.cache.get(n))]
    assert failed == sorted(failed, reverse=True) and failed[0] > 0
    assert "most failing first" in screen_text(app)


async def _extract(pilot: Pilot[Any], app: DmarcApp, everything: bool) -> None:
    await press(pilot, "E" if everything else "e")
    assert isinstance(app.screen, PromptScreen)
    assert app.screen.query_one(Input).value == default_reports_dir()
    title = str(app.screen.query_one(".dialog-title", Label).render())
    assert ("all 168 listed reports" in title) == everything


async def _help(pilot: Pilot[Any], app: DmarcApp) -> None:
    for key in ("question_mark", "f1"):
        await press(pilot, key)
        assert isinstance(app.screen, HelpScreen)
        await press(pilot, "escape")


async def _palette(pilot: Pilot[Any], app: DmarcApp) -> None:
    await press(pilot, "ctrl+p")
    assert isinstance(app.screen, CommandPalette)


async def _theme(pilot: Pilot[Any], app: DmarcApp) -> None:
    dark = app.current_theme.dark
    await press(pilot, "ctrl+t")
    assert app.current_theme.dark != dark


async def _quit(pilot: Pilot[Any], app: DmarcApp) -> None:
    await pilot.press("q")
    await pilot.pause()
    assert not app.is_running


MAIN_CHECKS: dict[str, Check] = {
    **dict.fromkeys([str(n) for n in range(1, 7)], _panes),
    "tab": _tabs,
    "shift+tab": _tabs,
    "enter": _enter,
    "slash": _search,
    "f": _filter,
    "s": _sort,
    "x": _failing_first,
    "e": lambda pilot, app: _extract(pilot, app, False),
    "E": lambda pilot, app: _extract(pilot, app, True),
    "question_mark": _help,
    "f1": _help,
    "ctrl+p": _palette,
    "ctrl+t": _theme,
    "q": _quit,
}


@pytest.mark.parametrize("key", sorted(set(readme_tables()["main"]) - MOVES - SIDEWAYS))
async def test_each_key_of_the_main_table_does_its_job(
    key: str, app_with_config: SourcesApp
) -> None:
    app = app_with_config()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await MAIN_CHECKS[key](pilot, app)


async def _sources(pilot: Pilot[Any], app: DmarcApp) -> SourcesPane:
    await press(pilot, "2")
    return app.main_screen.query_one(SourcesPane)


async def _records(pilot: Pilot[Any], app: DmarcApp) -> None:
    await _sources(pilot, app)
    await press(pilot, "enter")
    assert isinstance(app.screen, SourceRecordsScreen)
    await press(pilot, "enter")
    assert isinstance(app.screen, ReportScreen)


async def _mark(pilot: Pilot[Any], app: DmarcApp) -> None:
    sources = await _sources(pilot, app)
    await press(pilot, "space")
    assert len(sources.marked) == 1 and "1 marked" in screen_text(app)


async def _notice(pilot: Pilot[Any], app: DmarcApp) -> None:
    await _sources(pilot, app)
    await press(pilot, "down", "down", "down", "down", "n")
    assert isinstance(app.screen, NoticeScreen)


async def _all_kinds(pilot: Pilot[Any], app: DmarcApp) -> None:
    sources = await _sources(pilot, app)
    shown = len(sources.shown)
    await press(pilot, "a")
    assert sources.show_all and len(sources.shown) > shown


async def _detail(pilot: Pilot[Any], app: DmarcApp) -> None:
    await pilot.resize_terminal(80, 14)
    await _sources(pilot, app)
    detail = app.main_screen.query_one("#source-detail", KeyScroll)
    assert detail.max_scroll_y > 0, "the explanation fits: nothing to scroll"
    await press(pilot, "J", "J")
    assert detail.scroll_y == 2
    await press(pilot, "K")
    assert detail.scroll_y == 1
    assert isinstance(app.focused, KeyTable), "the table keeps the focus"


async def _decide(pilot: Pilot[Any], app: DmarcApp) -> None:
    await _sources(pilot, app)
    await press(pilot, "d")
    assert isinstance(app.screen, DecisionScreen)
    await press(pilot, "escape")
    assert app.screen is app.main_screen


SOURCES_CHECKS: dict[str, Check] = {
    "enter": _records,
    "d": _decide,
    "space": _mark,
    "n": _notice,
    "a": _all_kinds,
    "J": _detail,
    "K": _detail,
}


@pytest.mark.parametrize("key", sorted(set(readme_tables()["sources"])))
async def test_each_key_of_the_sources_table_does_its_job(
    key: str, app_with_config: SourcesApp
) -> None:
    app = app_with_config()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await SOURCES_CHECKS[key](pilot, app)
