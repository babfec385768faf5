"""Command palette: "noun: verb" commands, offered only when they apply."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from dmarctui.tui.filter_text import is_filtered
from dmarctui.tui.panes import PANES
from dmarctui.tui.screens.main import MainScreen

if TYPE_CHECKING:
    from dmarctui.tui.app import DmarcApp
    from dmarctui.tui.screens.reports import ReportsPane
    from dmarctui.tui.screens.sources import SourcesPane

Command = tuple[str, str, Callable[[], object]]


def _reports_commands(main: MainScreen, reports: ReportsPane) -> Iterator[Command]:
    def on_reports(action: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            main.show_pane(reports.PANE_ID)
            action()

        return run

    if reports.filter.failing_first:
        yield (
            "reports: show in sort order",
            "Stop putting failing reports first",
            on_reports(reports.action_failing_first),
        )
    else:
        yield (
            "reports: show failing first",
            "Reports with the most failing messages on top",
            on_reports(reports.action_failing_first),
        )
    yield (
        "reports: search",
        "Search reporter, domain, report id, file name",
        on_reports(reports.action_search),
    )
    yield (
        "reports: filter",
        "Filter by domain, reporter, source, period, result",
        on_reports(reports.action_filter),
    )
    if is_filtered(reports.filter):
        from dmarctui.index import ReportFilter

        yield (
            "reports: clear filter",
            "Show all reports again",
            on_reports(
                lambda: reports.set_filter(ReportFilter(failing_first=reports.filter.failing_first))
            ),
        )
    yield ("reports: sort", "Choose the sort column", on_reports(reports.action_sort))
    if reports.report_list.current is not None:
        yield (
            "report: open",
            "Open the report under the cursor",
            on_reports(reports.report_list.action_open),
        )
        yield (
            "report: extract",
            "Save this report's XML to a directory",
            on_reports(lambda: reports.action_extract(False)),
        )
        yield (
            "reports: extract all listed",
            "Save every listed report's XML",
            on_reports(lambda: reports.action_extract(True)),
        )


def _sources_commands(main: MainScreen, sources: SourcesPane) -> Iterator[Command]:
    def on_sources(action: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            main.show_pane(sources.PANE_ID)
            action()

        return run

    if sources.current is not None or sources.marked:
        yield (
            "sources: compose notice",
            "Write to the admin of this (or the marked) source",
            on_sources(sources.action_compose),
        )
        yield (
            "sources: list records",
            "Every record of this source in all reports",
            on_sources(sources.action_open),
        )
    if sources.current is not None:
        yield (
            "sources: decide",
            "Record what this source is (list, forwarder, ignore until…), or undo it",
            on_sources(sources.action_decide),
        )
    if sources.show_all:
        yield (
            "sources: hide informational",
            "Show only the sources that need action",
            on_sources(sources.action_toggle_all),
        )
    else:
        yield (
            "sources: show informational",
            "Also show forwarded mail and outside spoofing",
            on_sources(sources.action_toggle_all),
        )
    if sources.marked:
        yield (
            "sources: clear marks",
            "Unmark every marked source",
            on_sources(sources.action_clear_marks),
        )


def palette_commands(app: DmarcApp, screen: object) -> Iterator[Command]:
    """Commands for ``screen``, the screen the palette was opened on."""
    if app.scanning:
        yield ("folder: cancel scan", "Stop the running scan", app.cancel_scan)
    else:
        yield ("folder: rescan", "Read new and changed messages now", app.action_rescan)
    yield (
        "theme: toggle light / dark",
        "Switch between the light and the dark theme",
        app.action_toggle_theme,
    )
    yield ("help: show keys", "Every key and what the columns mean", app.action_help)
    if not isinstance(screen, MainScreen):
        return
    main = screen
    for pane in PANES:
        pane_id = pane.PANE_ID
        yield (
            f"{pane.TITLE.lower()}: show",
            f"Switch to the {pane.TITLE} pane",
            lambda pane_id=pane_id: main.show_pane(pane_id),  # type: ignore[misc]
        )
    from dmarctui.tui.screens.reports import ReportsPane

    reports = main.query(ReportsPane)
    if reports:
        yield from _reports_commands(main, reports.first())
    from dmarctui.tui.screens.sources import SourcesPane

    sources = main.query(SourcesPane)
    if sources:
        yield from _sources_commands(main, sources.first())


class DmarcCommands(Provider):
    def _commands(self) -> list[Command]:
        return list(palette_commands(cast("DmarcApp", self.app), self.screen))

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
