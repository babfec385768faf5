"""An idle TUI does no work, and one ranking serves both panes that need it (at 80x24).

The index triage is what costs at a million records (seconds of CPU, hundreds of MB): these tests
count its runs. Polls that find the folder unchanged must neither list the folder nor rank; the
Sources and Readiness panes share one ranking, computed ahead once the first screen is up; while
it runs, both panes show how far it got and the keys keep working.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from dmarctui.config import Config
from dmarctui.demo import DemoFolder
from dmarctui.index import Index
from dmarctui.scan import drain
from dmarctui.tui import app as app_module
from dmarctui.tui.app import DmarcApp, make_app

from .conftest import AppFactory, screen_text, settle
from .sources_support import READINESS_KEY, SOURCES_KEY, demo_config_in, sources_factory
from .test_flows import new_report_mail


@pytest.fixture
def demo_config(demo_folder: DemoFolder, tmp_path: Path) -> Config:
    return demo_config_in(demo_folder, tmp_path)


class Counted:
    """Counts the calls of one method of the app's index (the instance, not the class)."""

    def __init__(self, app: DmarcApp, name: str) -> None:
        self.calls = 0
        real = getattr(app.index, name)

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        setattr(app.index, name, counting)


async def polls(pilot: Pilot[Any], n: int, seconds: float) -> None:
    """Let ``n`` polls of ``seconds`` pass, settling after each."""
    for _ in range(n):
        await pilot.pause(seconds)
        await settle(pilot)


async def test_polls_of_an_unchanged_folder_neither_list_it_nor_rank(
    demo_folder: DemoFolder,
    demo_config: Config,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "FULL_CHECK_EVERY", 1_000)  # tested on its own below
    folder = tmp_path / "Maildir"
    shutil.copytree(demo_folder.maildir, folder)
    db = tmp_path / "copy.sqlite"
    with Index.open(folder, db=db) as index:
        drain(index.update(workers=1))
    app = make_app(folder, db=db, config=demo_config, poll_seconds=0.2, dns=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        updates, triages = Counted(app, "update"), Counted(app, "triage")
        await pilot.press(SOURCES_KEY)
        await settle(pilot)
        shown = screen_text(app)
        assert "sources need action" in shown
        await polls(pilot, 5, 0.25)
        assert (updates.calls, triages.calls) == (0, 0)
        await pilot.press(READINESS_KEY)
        await settle(pilot)
        await polls(pilot, 3, 0.25)
        assert (updates.calls, triages.calls) == (0, 0)

        (folder / "new" / "1734700000.M1P1.test").write_bytes(new_report_mail())
        await polls(pilot, 2, 0.25)
        assert updates.calls == 1  # the delivery changed new/: the next poll read it
        assert triages.calls == 1  # the shown pane ranked the new index, once
        assert "1 new message" in "\n".join(n.message for n in app._notifications)
        await pilot.press(SOURCES_KEY)
        await settle(pilot)
        await polls(pilot, 3, 0.25)
        assert (updates.calls, triages.calls) == (1, 1)  # Sources took the same ranking


async def test_every_tenth_poll_lists_the_folder_anyway(
    demo_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message rewritten in place changes no directory: a full listing now and then finds it."""
    monkeypatch.setattr(app_module, "FULL_CHECK_EVERY", 3)
    app = demo_app(dns=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        updates = Counted(app, "update")
        for _ in range(6):
            app._poll()
            await settle(pilot)
        assert updates.calls == 2


@pytest.mark.parametrize("first", [SOURCES_KEY, READINESS_KEY])
async def test_one_ranking_serves_sources_and_readiness(
    demo_app: AppFactory, demo_config: Config, first: str
) -> None:
    app = sources_factory(demo_app, demo_config)(rank_on_start=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        triages = Counted(app, "triage")
        assert app.ranking.rankings == 0  # nothing ranked until a pane asks
        await pilot.press(first)
        await settle(pilot)
        ranked = triages.calls
        assert ranked >= 1
        await pilot.press(READINESS_KEY if first == SOURCES_KEY else SOURCES_KEY)
        await settle(pilot)
        text = screen_text(app)
        assert ("sources need action" if first == READINESS_KEY else "1 domain ·") in text
        assert triages.calls == ranked


async def test_the_ranking_runs_ahead_once_the_first_screen_is_up(
    demo_app: AppFactory, demo_config: Config
) -> None:
    app = sources_factory(demo_app, demo_config)()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)  # the scan on open, then the ranking ahead
        assert app.ranking.rankings >= 1
        ranked = app.ranking.rankings
        await pilot.press(SOURCES_KEY)
        await settle(pilot)
        assert "sources need action" in screen_text(app)
        await pilot.press(READINESS_KEY)
        await settle(pilot)
        assert "1 domain ·" in screen_text(app)
        assert app.ranking.rankings == ranked


async def test_both_panes_show_the_progress_of_a_long_ranking_and_keys_still_work(
    demo_app: AppFactory, demo_config: Config
) -> None:
    app = sources_factory(demo_app, demo_config)(rank_on_start=False)
    gate = threading.Event()
    reached = threading.Event()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        real = app.index.triage

        def slow(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
            progress(2_000, 5_000)
            reached.set()
            gate.wait(timeout=20)
            return real(*args, progress=progress, **kwargs)

        app.index.triage = slow  # type: ignore[method-assign]
        await pilot.press(SOURCES_KEY)
        assert reached.wait(timeout=10)
        await pilot.pause(1.2)
        assert "Ranking the sources… 1 s · 2,000 of 5,000 reports counted" in screen_text(app)
        await pilot.press(READINESS_KEY)  # the UI answers while the ranking runs
        await pilot.pause(1.2)
        assert app.main_screen.active_pane is not None
        assert app.main_screen.active_pane.PANE_ID == "readiness"
        assert "Counting… 1 s · 2,000 of 5,000 reports counted" in screen_text(app)
        gate.set()
        await settle(pilot)
        assert "1 domain ·" in screen_text(app)
        await pilot.press(SOURCES_KEY)
        await settle(pilot)
        assert "sources need action" in screen_text(app)
        assert app.ranking.rankings == 1


async def test_the_sources_table_gets_its_rows_a_page_at_a_time(
    demo_app: AppFactory, demo_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dmarctui.tui.screens import sources as sources_module

    monkeypatch.setattr(sources_module, "ROWS_PAGE", 4)
    app = sources_factory(demo_app, demo_config)()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press(SOURCES_KEY, "a")  # every kind: more rows than a page
        await settle(pilot)
        sources = app.main_screen.query_one(sources_module.SourcesPane)
        listed = len(sources.shown)
        assert listed > 4
        assert sources.table.row_count == 4  # a page, not every listed finding
        for _ in range(listed - 1):
            await pilot.press("down")
        await settle(pilot)
        assert sources.table.row_count == listed
        assert sources.table.cursor_row == listed - 1
        assert sources.current is sources.shown[-1]
