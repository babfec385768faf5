"""One report in full: metadata and policy, its records, the raw XML and the message headers."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from dmarctui.display_text import visible
from dmarctui.mailstore import MailStoreError
from dmarctui.tui.report_text import auth_results, metadata_table, repairs_table, report_title
from dmarctui.tui.safe_text import plain
from dmarctui.tui.widgets.key_bar import KeyBar
from dmarctui.tui.widgets.scrolling import KeyScroll, KeyTable

if TYPE_CHECKING:
    from dmarctui.index import ReportRow
    from dmarctui.model import AggregateReport
    from dmarctui.tui.app import DmarcApp

TABS = ("summary", "records", "xml", "headers")


class ReportScreen(Screen[None]):
    """Opened with enter on a report; Esc or backspace goes back to the list."""

    HELP = """\
## Report

**1–4** or **tab** switch between Summary, Records, XML and Headers; the keys of the list
(**↑↓ j k PgUp PgDn g G Home End**) scroll the tab shown, **← → h l** scroll the records
sideways. **Esc** goes back. The XML and headers are read again from the mail folder
(read-only).
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,backspace",
            "app.pop_screen",
            "Back",
            tooltip="Back to the list",
            id="report.back",
        ),
        Binding("tab", "next_tab(1)", "Next tab", show=False, id="report.next_tab"),
        Binding("shift+tab", "next_tab(-1)", "Previous tab", show=False, id="report.prev_tab"),
        *[
            Binding(str(n), f"show_tab('{tab}')", tab.title(), show=False, id=f"report.{tab}")
            for n, tab in enumerate(TABS, start=1)
        ],
    ]

    def __init__(self, row: ReportRow) -> None:
        super().__init__()
        self.row = row

    @property
    def dmarc(self) -> DmarcApp:
        return cast("DmarcApp", self.app)

    def compose(self) -> ComposeResult:
        yield ReportTitle(self.row, id="report-title")
        with TabbedContent(id="report-tabs", initial="summary"):
            with TabPane("1 Summary", id="summary"), KeyScroll(id="summary-scroll"):
                yield Static(id="report-summary")
            with TabPane("2 Records", id="records"):
                yield KeyTable(id="records-table")
            with TabPane("3 XML", id="xml"), KeyScroll(id="xml-scroll"):
                yield Static("Reading the XML from the folder…", id="report-xml")
            with TabPane("4 Headers", id="headers"), KeyScroll(id="headers-scroll"):
                yield Static("Reading the message from the folder…", id="report-headers")
        yield KeyBar()

    def on_mount(self) -> None:
        detail = self.dmarc.index.report(self.row.pk)
        report: AggregateReport = detail.report
        summary = Table.grid(padding=(0, 1))
        summary.add_column()
        summary.add_row(metadata_table(self.row, report))
        if report.repairs or report.normalised:
            summary.add_row(repairs_table(report))
        self.query_one("#report-summary", Static).update(summary)
        self._fill_records(report)
        self._load_raw()
        self._focus_tab("summary")

    def _fill_records(self, report: AggregateReport) -> None:
        table = self.query_one("#records-table", DataTable)
        table.add_columns(
            "Source IP",
            "PTR",
            "Count",
            "Disposition",
            "DKIM",
            "SPF",
            "header_from",
            "envelope_from",
            "Auth results",
        )
        ptrs = self.dmarc.known_ptrs(r.source_ip for r in report.records)
        for record in report.records:
            evaluated = record.policy_evaluated
            table.add_row(
                record.source_ip,
                ptrs.get(record.source_ip) or "",
                Text(f"{record.count:,}", justify="right"),
                _disposition(evaluated.disposition),
                _result(evaluated.dkim),
                _result(evaluated.spf),
                record.identifiers.header_from,
                record.identifiers.envelope_from or "",
                auth_results(record),
            )

    @work(
        thread=True,
        exclusive=True,
        group="report-raw",
        exit_on_error=False,
        description="read the report's message again",
    )
    def _load_raw(self) -> None:
        index = self.dmarc.index
        try:
            xml = index.report_xml(self.row.pk)
            xml_view: Syntax | Text = Syntax(
                visible(xml.decode("utf-8", "replace"), multiline=True),
                "xml",
                theme="ansi_dark",
                word_wrap=True,
                line_numbers=True,
            )
        except (MailStoreError, KeyError) as exc:  # the message left or changed since indexed
            xml_view = plain(f"Cannot read the XML again: {exc}")
        try:
            headers = self.dmarc.message_headers(self.row.message)
        except (MailStoreError, KeyError) as exc:
            headers = plain(f"Cannot read the message again: {exc}")
        self.app.call_from_thread(self._show_raw, xml_view, headers)

    def _show_raw(self, xml: Syntax | Text, headers: Text) -> None:
        self.query_one("#report-xml", Static).update(xml)
        self.query_one("#report-headers", Static).update(headers)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """A click on the tab row must not leave the focus there: the keys scroll the tab."""
        event.stop()
        if event.pane.id:
            self._focus_tab(event.pane.id)

    def _focus_tab(self, tab: str) -> None:
        content = self.query_one(f"#{tab}", TabPane).query("KeyScroll, KeyTable").first(Widget)
        content.focus(scroll_visible=False)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_tab(tab)

    def action_next_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        position = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(position + step) % len(TABS)]
        self._focus_tab(tabs.active)


class ReportTitle(Static):
    """Reporter · domain · period · report ID, the ID shortened (not dropped) when narrow."""

    def __init__(self, row: ReportRow, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.row = row

    def render(self) -> Text:
        return report_title(self.row, self.content_region.width)


def _result(value: str) -> Text:
    return Text(value, "green" if value == "pass" else "bold red")


def _disposition(value: str) -> Text:
    return Text(value, "" if value == "none" else "bold red")
