"""The Sources pane's ``d``: a decision recorded in a modal changes triage at once, and undoes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from dmarctui.config import Config
from dmarctui.decisions import DecisionStore
from dmarctui.demo import DemoFolder
from dmarctui.tui.screens.decision import DecisionScreen

from .conftest import AppFactory, screen_text, settle
from .sources_support import LAB1, SourcesApp, demo_config_in, go_to, open_sources, sources_factory


@pytest.fixture
def sources_app(demo_app: AppFactory, demo_folder: DemoFolder, tmp_path: Path) -> SourcesApp:
    config: Config = demo_config_in(demo_folder, tmp_path)
    return sources_factory(demo_app, config)


def detail_text(sources: object) -> str:
    """The lines under the table, rendered as plain text."""
    static = sources.query_one("#source-detail-text", Static)  # type: ignore[attr-defined]
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(static.content)
    return console.export_text()


def kinds_of(sources: object, ip: str) -> set[str]:
    return {f.kind for f in sources.shown if f.source_ip == ip}  # type: ignore[attr-defined]


async def test_d_records_a_verdict_that_triage_applies_and_undo_reverts(
    sources_app: SourcesApp,
) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, LAB1, "internal_no_dkim")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, DecisionScreen)
        await pilot.press("2", "enter")  # mailing list; the note field gets the focus
        await pilot.press(*"lab list", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, DecisionScreen)
        with DecisionStore.open() as store:
            [decision] = store.effective()
        assert (decision.match, decision.verdict, decision.note) == (
            LAB1,
            "mailing_list",
            "lab list",
        )
        assert kinds_of(sources, LAB1) == {"dkim_broken"}
        await go_to(pilot, sources, LAB1, "dkim_broken")
        detail = detail_text(sources)
        assert "Known sender: lab list." in detail

        await pilot.press("d")
        await settle(pilot)
        await pilot.press("7", "enter")  # undo the current decision
        await settle(pilot)
        with DecisionStore.open() as store:
            assert store.effective() == []
        assert kinds_of(sources, LAB1) == {"internal_no_dkim"}


async def test_ignore_needs_a_date_and_shows_under_the_table(sources_app: SourcesApp) -> None:
    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        sources = await open_sources(pilot)
        await go_to(pilot, sources, LAB1, "internal_no_dkim")
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("5", "enter", "enter")  # ignore, with no date yet
        await settle(pilot)
        assert isinstance(app.screen, DecisionScreen)
        shown = screen_text(app)  # the whole dialog fits 80×24, the complaint included
        assert "ignore needs a last day" in shown and "Enter saves" in shown
        await pilot.press(*"2999-12-31", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, DecisionScreen)
        await go_to(pilot, sources, LAB1, "internal_no_dkim")  # ignore changes no verdict
        detail = detail_text(sources)
        assert f"Decision for {LAB1}: ignore until 2999-12-31" in detail


async def test_palette_offers_decide(sources_app: SourcesApp) -> None:
    from dmarctui.tui.commands import palette_commands

    app = sources_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_sources(pilot)
        titles = {title: run for title, _, run in palette_commands(app, app.main_screen)}
        titles["sources: decide"]()
        await settle(pilot)
        assert isinstance(app.screen, DecisionScreen)
