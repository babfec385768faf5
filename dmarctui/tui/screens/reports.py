"""The Reports pane: every aggregate report, paged from the index, searchable and sortable."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Label

from dmarctui.index import ReportFilter
from dmarctui.tui.filter_text import describe
from dmarctui.tui.pane import Pane
from dmarctui.tui.report_cells import SORT_TITLES
from dmarctui.tui.report_export import default_reports_dir, export_reports
from dmarctui.tui.screens.filter import FilterScreen
from dmarctui.tui.screens.prompt import PromptScreen
from dmarctui.tui.screens.sort import SortScreen
from dmarctui.tui.widgets.report_list import ReportList
from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.index import ReportRow

TEXT_SORTS = frozenset({"org_name", "domain"})
"""Sorted A→Z first; every other column (dates, counts) starts with the largest."""


class ReportsPane(Pane):
    PANE_ID = "reports"
    TITLE = "Reports"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "search",
            "Search",
            tooltip="Search reporter, domain, report id, file",
            id="reports.search",
        ),
        Binding(
            "f",
            "filter",
            "Filter",
            tooltip="Filter by domain, reporter, period, result",
            id="reports.filter",
        ),
        Binding(
            "s",
            "sort",
            "Sort",
            tooltip="Choose the sort column (again to reverse)",
            id="reports.sort",
        ),
        Binding(
            "x",
            "failing_first",
            "Failing first",
            show=False,
            tooltip="Most failing messages first (again: back to the sort order)",
            id="reports.failing_first",
        ),
        Binding(
            "e",
            "extract(False)",
            "Extract",
            tooltip="Save this report's XML to a directory",
            id="reports.extract",
        ),
        Binding(
            "E",
            "extract(True)",
            "Extract all",
            show=False,
            tooltip="Save every listed report's XML to a directory",
            id="reports.extract_all",
        ),
    ]

    def __init__(self) -> None:
        super().__init__(id=self.PANE_ID)
        self.filter = ReportFilter()
        self.sort = "begin"
        self.descending = True
        self.out_dir = default_reports_dir()
        self._queried = False

    def compose(self) -> ComposeResult:
        yield Label("", id="reports-status", classes="pane-status")
        yield ReportList(id="report-list")

    @property
    def report_list(self) -> ReportList:
        return self.query_one(ReportList)

    def reload(self) -> None:
        if not self._queried:
            self._requery()
            return
        self.report_list.reload()
        self._show_status()

    def _requery(self) -> None:
        index, flt, sort, descending = self.dmarc.index, self.filter, self.sort, self.descending
        self._queried = True
        self.report_list.set_source(
            lambda: index.count_reports(flt),
            lambda offset, limit: index.reports_page(
                flt, sort=sort, descending=descending, offset=offset, limit=limit
            ),
        )
        self._show_status()

    def _show_status(self) -> None:
        listed = self.report_list.row_count
        if not listed and self.dmarc.reading:
            # A scan accounts the reports it reads (duplicates, copies) once it has read them
            # all: until then the list is empty, which must not read as "nothing found".
            self.query_one("#reports-status", Label).update(
                "No reports listed yet: they are listed when the scan has read the folder"
            )
            return
        arrow = "↓" if self.descending else "↑"
        first = " · most failing first" if self.filter.failing_first else ""
        self.query_one("#reports-status", Label).update(
            f"{count(listed, 'report')} · {describe(self.filter)}"
            f" · by {SORT_TITLES[self.sort]} {arrow}{first}"
        )

    def scan_changed(self) -> None:
        if self._queried:
            self._show_status()

    def set_filter(self, flt: ReportFilter) -> None:
        self.filter = flt
        self._requery()

    def set_sort(self, key: str, descending: bool) -> None:
        self.sort, self.descending = key, descending
        self._requery()

    # ------------------------------------------------------------------ actions

    def action_search(self) -> None:
        def done(text: str | None) -> None:
            if text is not None:
                self.set_filter(replace(self.filter, text=text.strip() or None))

        now = f" (now: {self.filter.text})" if self.filter.text else ""
        self.app.push_screen(
            PromptScreen(
                f"Search reports{now}",
                placeholder="reporter, domain, report id or file name",
                hint="Enter to search (empty clears) · Esc to cancel",
            ),
            done,
        )

    def action_filter(self) -> None:
        def done(flt: ReportFilter | None) -> None:
            if flt is not None:
                self.set_filter(flt)

        self.app.push_screen(FilterScreen(self.filter), done)

    def action_sort(self) -> None:
        def done(key: str | None) -> None:
            if key is None:
                return
            descending = not self.descending if key == self.sort else key not in TEXT_SORTS
            self.set_sort(key, descending)

        self.app.push_screen(SortScreen(self.sort, self.descending), done)

    def action_failing_first(self) -> None:
        self.set_filter(replace(self.filter, failing_first=not self.filter.failing_first))

    def action_extract(self, everything: bool) -> None:
        current = self.report_list.current
        listed = self.report_list.row_count
        if listed == 0 or (current is None and not everything):
            self.notify("No report to extract", severity="warning")
            return
        what = f"all {count(listed, 'listed report')}" if everything else "this report"

        def done(directory: str | None) -> None:
            if not directory:
                return
            self.out_dir = directory
            rows = None if everything else [current]
            self._extract(Path(directory).expanduser(), rows)

        self.app.push_screen(
            PromptScreen(
                f"Extract {what} to directory",
                value=self.out_dir,
                hint="Enter to save · Esc to cancel · conventional names; identical files"
                " skipped, none overwritten",
            ),
            done,
        )

    @work(
        thread=True,
        exclusive=True,
        group="extract",
        exit_on_error=False,
        description="extract reports",
    )
    def _extract(self, out_dir: Path, rows: list[ReportRow | None] | None) -> None:
        index, flt, sort, descending = self.dmarc.index, self.filter, self.sort, self.descending
        chosen = [r for r in rows if r is not None] if rows is not None else None
        try:
            summary = export_reports(index, out_dir, flt, sort, descending, chosen)
        except OSError as exc:
            self.app.call_from_thread(
                self.notify, f"{out_dir}: {exc.strerror or exc}", severity="error"
            )
            return
        except ValueError as exc:  # the mail folder itself, which is never written
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self.notify, summary, title="Extract", timeout=8)

    def on_report_list_opened(self, event: ReportList.Opened) -> None:
        from dmarctui.tui.screens.report_detail import ReportScreen

        event.stop()
        self.app.push_screen(ReportScreen(event.row))
