"""The Failures pane: DMARC failure (ruf) reports, one line each, enter for every field."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from dmarctui.tui.pane import Pane
from dmarctui.tui.report_text import utc_time
from dmarctui.tui.screens.fields import FieldsScreen, fields_table
from dmarctui.tui.widgets.pane_table import PaneTable

if TYPE_CHECKING:
    from dmarctui.ledger import FoundFailure


class FailuresPane(Pane):
    PANE_ID = "failures"
    TITLE = "Failures"

    HELP = """\
## Failures

DMARC failure (ruf) reports: one message that failed, as the receiver saw it. **Enter** shows
every field of the report.
"""

    def __init__(self) -> None:
        super().__init__(id=self.PANE_ID)
        self._found: list[FoundFailure] = []

    def compose(self) -> ComposeResult:
        yield Label("", id="failures-status", classes="pane-status")
        table = PaneTable(id="failures-table")
        table.add_columns("Arrived", "Source IP", "Domain", "Failed", "From", "Subject")
        yield table

    def reload(self) -> None:
        self._found = self.dmarc.index.failures()
        table = self.query_one(DataTable)
        table.clear()
        for found in self._found:
            report = found.report
            arrived = (
                utc_time(report.arrival_epoch)
                if report.arrival_epoch
                else (report.arrival_date or "")
            )
            table.add_row(
                arrived,
                report.source_ip or "",
                ", ".join(report.reported_domain),
                Text(", ".join(report.auth_failure), "red"),
                report.original_from or report.original_mail_from or "",
                report.original_subject or "",
            )
        self.query_one("#failures-status", Label).update(
            f"{len(self._found):,} failure reports"
            + (" · enter for details" if self._found else "")
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.cursor_row >= len(self._found):
            return
        found = self._found[event.cursor_row]
        report = found.report
        body = fields_table(
            [("message", found.message)]
            + [(f.name, getattr(report, f.name)) for f in fields(report)]
        )
        self.app.push_screen(FieldsScreen("Failure report", body))
