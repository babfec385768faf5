"""The TLS pane: SMTP TLS reports (RFC 8460), one line each, enter for policies and failures."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from dmarctui.tui.pane import Pane
from dmarctui.tui.report_text import utc_time
from dmarctui.tui.safe_text import plain_block
from dmarctui.tui.screens.fields import FieldsScreen, fields_table
from dmarctui.tui.widgets.pane_table import PaneTable
from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.ledger import FoundTls
    from dmarctui.model import TlsReport


class TlsPane(Pane):
    PANE_ID = "tls"
    TITLE = "TLS"

    HELP = """\
## TLS

SMTP TLS reports (RFC 8460): how many sessions to your MX hosts succeeded or failed, per
policy. **Enter** shows each policy and its failure details.
"""

    def __init__(self) -> None:
        super().__init__(id=self.PANE_ID)
        self._found: list[FoundTls] = []

    def compose(self) -> ComposeResult:
        yield Label("", id="tls-status", classes="pane-status")
        table = PaneTable(id="tls-table")
        table.add_columns("Begin", "Organization", "Policy domains", "OK", "Failed", "Report ID")
        yield table

    def reload(self) -> None:
        self._found = self.dmarc.index.tls_reports()
        self.query_one(PaneTable).show_rows([
            (
                utc_time(found.report.begin),
                found.report.organization_name,
                ", ".join(sorted({p.policy_domain for p in found.report.policies})),
                Text(f"{found.report.successful:,}", "green", justify="right"),
                Text(
                    f"{found.report.failed:,}",
                    "bold red" if found.report.failed else "",
                    justify="right",
                ),
                found.report.report_id,
            )
            for found in self._found
        ])  # fmt: skip
        self.query_one("#tls-status", Label).update(
            count(len(self._found), "TLS report") + (" · enter for details" if self._found else "")
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.cursor_row >= len(self._found):
            return
        found = self._found[event.cursor_row]
        self.app.push_screen(
            FieldsScreen(
                f"TLS report {found.report.report_id}", tls_details(found.message, found.report)
            )
        )


def tls_details(message: str, report: TlsReport) -> Group:
    head = fields_table(
        [
            ("Organization", report.organization_name),
            ("Report ID", report.report_id),
            ("Period", f"{utc_time(report.begin)} → {utc_time(report.end)}"),
            ("Contact", report.contact_info),
            ("Message", message),
        ]
    )
    parts: list[Table | Text] = [head]
    for policy in report.policies:
        parts.append(
            plain_block(f"\n{policy.policy_type} policy for {policy.policy_domain}", "bold")
        )
        parts.append(
            fields_table(
                [
                    ("Successful", f"{policy.successful:,}"),
                    ("Failed", f"{policy.failed:,}"),
                    ("MX hosts", policy.mx_hosts),
                ]
            )
        )
        for detail in policy.failure_details:
            parts.append(
                fields_table(
                    [
                        ("Result", Text(detail.result_type, "red")),
                        ("Sessions", f"{detail.failed_session_count:,}"),
                        ("Sending MTA", detail.sending_mta_ip),
                        ("Receiving MX", detail.receiving_mx_hostname),
                        ("Receiving IP", detail.receiving_ip),
                        ("Reason code", detail.failure_reason_code),
                        ("Info", detail.additional_information),
                    ]
                )
            )
    return Group(*parts)
