"""The Problems pane: every message that is not a counted report, and why — nothing is hidden."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Label

from dmarctui.model import BUCKETS
from dmarctui.tui.pane import Pane
from dmarctui.tui.screens.fields import FieldsScreen, fields_table
from dmarctui.tui.widgets.pane_table import PaneTable

BUCKET_TITLES = {
    "aggregate": "aggregate",
    "failure": "failure",
    "tls": "TLS",
    "duplicate": "duplicate",
    "not_report": "not a report",
    "error": "error",
}
KIND_STYLES = {
    "error": "bold red",
    "warning": "yellow",
    "duplicate": "cyan",
    "collision": "magenta",
    "not a report": "dim",
}


def bucket_line(buckets: dict[str, int], total: int) -> Text:
    """``155 messages = 150 aggregate + 1 failure + …``: the accounts add up, visibly."""
    text = Text(f"{total:,} messages = ", "bold")
    parts = [f"{buckets.get(name, 0):,} {BUCKET_TITLES[name]}" for name in BUCKETS]
    text.append(" + ".join(parts))
    if sum(buckets.values()) != total:
        text.append(f"  (!) buckets hold {sum(buckets.values()):,}", "bold red")
    return text


class ProblemsPane(Pane):
    PANE_ID = "problems"
    TITLE = "Problems"

    HELP = """\
## Problems

Every message lands in exactly one bucket; the top line shows they add up. Below: errors with
their reason, warnings, duplicates and what they duplicate, report_id collisions and whether they
were counted once, and messages that are not reports. **Enter** shows the message.
"""

    def __init__(self) -> None:
        super().__init__(id=self.PANE_ID)
        self._messages: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("", id="buckets-line", classes="pane-status")
        table = PaneTable(id="problems-table")
        table.add_columns("Kind", "Why", "Message")
        yield table

    def reload(self) -> None:
        index = self.dmarc.index
        self.query_one("#buckets-line", Label).update(
            bucket_line(index.buckets(), index.message_count())
        )
        rows: list[tuple[str, str, str]] = []
        for problem in index.errors():
            rows.append(
                ("error", problem.message, _where(problem.reason, problem.part, problem.filename))
            )
        for problem in index.warnings():
            rows.append(
                ("warning", problem.message, _where(problem.reason, problem.part, problem.filename))
            )
        for dup in index.duplicates():
            rows.append(("duplicate", dup.message, f"same as {dup.duplicate_of}: {dup.why}"))
        for collision in index.collisions():
            merged = "counted once" if collision.counted_once else "both counted"
            rows.append(
                (
                    "collision",
                    collision.second,
                    f"report_id {collision.report_id} also in {collision.first}:"
                    f" {collision.reason.replace('_', ' ')}, {merged}. {collision.detail}",
                )
            )
        for problem in index.not_reports():
            rows.append(("not a report", problem.message, problem.reason))
        table = self.query_one(PaneTable)
        self._messages = [message.split("#", 1)[0] for _, message, _ in rows]
        cells = [(Text(kind, KIND_STYLES[kind]), why, message) for kind, message, why in rows]
        table.show_rows(
            cells or [(Text("none", "green"), "every message is a readable report", "")]
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show()

    def action_show(self) -> None:
        table = self.query_one(DataTable)
        if not self._messages or table.cursor_row >= len(self._messages):
            return
        key = self._messages[table.cursor_row]
        why = str(table.get_row_at(table.cursor_row)[1])
        try:
            ref, summary = self.dmarc.index.message(key)
        except LookupError:
            self.notify(f"{key} is no longer in the index", severity="warning")
            return
        body = fields_table(
            [
                ("Why", why),
                ("Subject", summary.subject),
                ("From", summary.sender),
                ("Date", summary.date),
                ("Message-ID", summary.message_id),
                ("Key", ref.key),
                ("Location", ref.location),
                ("Size", f"{ref.size:,} bytes"),
            ]
        )
        self.app.push_screen(FieldsScreen(f"Message {key}", body))


def _where(reason: str, part: str | None, filename: str | None) -> str:
    where = " ".join(x for x in (f"part {part}" if part else "", filename or "") if x)
    return f"{reason} ({where})" if where else reason
