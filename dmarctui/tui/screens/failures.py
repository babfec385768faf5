"""The Failures pane: DMARC failure (ruf) reports, one line each, enter for every field."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from dmarctui.tui.pane import Pane
from dmarctui.tui.report_text import utc_time
from dmarctui.tui.screens.fields import FieldsScreen, fields_table
from dmarctui.tui.widgets.pane_table import PaneTable
from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.ledger import FoundFailure
    from dmarctui.model import FailureReport

FIELD_LABELS: dict[str, str] = {
    "original_from": "From",
    "original_to": "To",
    "original_subject": "Subject",
    "original_message_id": "Message-ID",
    "original_mail_from": "Envelope from",
    "original_rcpt_to": "Envelope to",
    "source_ip": "Source IP",
    "reported_domain": "Reported domain",
    "auth_failure": "Failed check",
    "delivery_result": "Delivery",
    "dkim_domain": "DKIM domain",
    "dkim_selector": "DKIM selector",
    "identity_alignment": "Aligned identity",
    "authentication_results": "Auth results",
    "arrival_date": "Arrived",
    "feedback_type": "Feedback type",
    "reporting_mta": "Reporting MTA",
    "user_agent": "Reporter software",
    "format": "Format",
}
"""Every field of a failure report, in reading order, under a name a mail admin knows."""


def failure_fields(message: str, report: FailureReport) -> list[tuple[str, object]]:
    """The failure detail's lines: readable labels, the arrival time in UTC when it is known."""
    values: list[tuple[str, object]] = [("Message", message)]
    for name, label in FIELD_LABELS.items():
        value = getattr(report, name)
        if name == "arrival_date" and report.arrival_epoch:
            value = utc_time(report.arrival_epoch)
        elif name == "format":
            value = "ARF (RFC 5965)" if value == "arf" else "plain text"
        values.append((label, value))
    return values


class FailuresPane(Pane):
    PANE_ID = "failures"
    TITLE = "Failures"

    HELP = """\
## Failures

DMARC failure (ruf) reports: one message that failed DMARC, as the receiver saw it: when it
arrived, the source IP, the domain, which check failed (**Failed**: dkim, spf or dmarc), and the
message's From and Subject. **Enter** shows every field of the report (the keys of the list
scroll it; **Esc** closes).
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
        rows = []
        for found in self._found:
            report = found.report
            arrived = (
                utc_time(report.arrival_epoch)
                if report.arrival_epoch
                else (report.arrival_date or "")
            )
            rows.append((
                arrived,
                report.source_ip or "",
                ", ".join(report.reported_domain),
                Text(", ".join(report.auth_failure), "red"),
                report.original_from or report.original_mail_from or "",
                report.original_subject or "",
            ))  # fmt: skip
        self.query_one(PaneTable).show_rows(rows)
        self.query_one("#failures-status", Label).update(
            count(len(self._found), "failure report")
            + (" · enter for details" if self._found else "")
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.cursor_row >= len(self._found):
            return
        found = self._found[event.cursor_row]
        body = fields_table(failure_fields(found.message, found.report))
        self.app.push_screen(FieldsScreen("Failure report", body))
