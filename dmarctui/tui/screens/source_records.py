"""Every record of one source across all reports: the evidence behind a finding, row by row."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Label

from dmarctui.display_text import visible
from dmarctui.tui.report_cells import period
from dmarctui.tui.report_text import auth_results
from dmarctui.tui.safe_text import plain
from dmarctui.tui.source_cells import KIND_LABELS, SEVERITY_STYLES
from dmarctui.tui.widgets.key_bar import KeyBar
from dmarctui.tui.widgets.scrolling import KeyTable
from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.index import ReportRow
    from dmarctui.model import Finding
    from dmarctui.tui.app import DmarcApp


PAGE = 200
"""Records read from the index per page."""


class SourceRecordsScreen(Screen[None]):
    """Opened with enter on a source; enter on a record opens its report."""

    HELP = """\
## Records of a source

Every record of this source in every counted report, newest first: reporter, period, count,
disposition, DMARC-aligned DKIM and SPF, header From and each auth result. **Enter** opens the
report; **Esc** goes back to the sources.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,backspace",
            "app.pop_screen",
            "Back",
            tooltip="Back to the sources",
            id="source_records.back",
        ),
        Binding(
            "enter",
            "open_report",
            "Report",
            tooltip="Open the report holding this record",
            id="source_records.open",
            priority=True,
        ),
    ]

    def __init__(self, source_ip: str, findings: list[Finding]) -> None:
        super().__init__()
        self.source_ip = source_ip
        self.findings = findings
        self.rows: list[ReportRow] = []
        self.total = 0
        """Records of the source in the index; ``rows`` holds the pages read so far."""

    @property
    def dmarc(self) -> DmarcApp:
        return cast("DmarcApp", self.app)

    def compose(self) -> ComposeResult:
        yield Label("", id="source-records-title")
        yield KeyTable(id="source-records-table")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(
            "Reporter",
            "Period",
            "Count",
            "Disposition",
            "DKIM",
            "SPF",
            "header_from",
            "Auth results",
        )
        totals = self.dmarc.index.source_totals(self.source_ip)
        self.total = totals[0]
        self._load_page()
        self.query_one("#source-records-title", Label).update(self._title(*totals))
        table.focus()

    def _load_page(self) -> None:
        """Append the next page of records (they are read from the index as the cursor nears
        the end, never all at once)."""
        table = self.query_one(DataTable)
        found = self.dmarc.index.source_records_page(
            self.source_ip, offset=len(self.rows), limit=PAGE
        )
        for row, record in found:
            evaluated = record.policy_evaluated
            table.add_row(
                row.org_name or row.email,
                period(row.begin, row.end),
                Text(f"{record.count:,}", justify="right"),
                Text(evaluated.disposition, "" if evaluated.disposition == "none" else "bold red"),
                _result(evaluated.dkim),
                _result(evaluated.spf),
                record.identifiers.header_from,
                auth_results(record),
            )
            self.rows.append(row)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.rows) - PAGE // 4 and len(self.rows) < self.total:
            self._load_page()

    def _title(self, records: int, reports: int, messages: int) -> Text:
        title = plain(self.source_ip, "bold")
        ptr = next((f.ptr for f in self.findings if f.ptr), None)
        if ptr:
            title.append(visible(f"  {ptr.rstrip('.')}"))
        for f in self.findings:
            title.append("  ")
            title.append(KIND_LABELS[f.kind], SEVERITY_STYLES[f.severity] or "bold")
        title.append(
            f"  · {count(records, 'record')} in {count(reports, 'report')},"
            f" {count(messages, 'message')}",
            "dim",
        )
        return title

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_report()

    def action_open_report(self) -> None:
        from dmarctui.tui.screens.report_detail import ReportScreen

        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self.rows):
            self.app.push_screen(ReportScreen(self.rows[row]))


def _result(value: str) -> Text:
    return Text(value, "green" if value == "pass" else "bold red")
