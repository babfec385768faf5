"""How a flagged source reads in the Sources pane: table cells and the detail lines under it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Group
from rich.text import Text

from dmarctui.history import FollowUpState, NoticeRecord
from dmarctui.model import Finding, Severity
from dmarctui.tui.safe_text import literal
from dmarctui.tui.widgets.sparkline import sparkline
from dmarctui.wording import KIND_LABELS, count

SEVERITY_STYLES: dict[Severity, str] = {
    "urgent": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "",
    "info": "dim",
}
COLUMNS = ("", "Sev", "Kind", "Source", "Msgs", "Per day", "PTR", "Contact", "Period", "Notice")
SPARK_WIDTH = 14


@dataclass(frozen=True)
class NoticeState:
    """The latest notice naming a source, and its failing messages per day before and after."""

    notice: NoticeRecord
    before: float
    after: float
    state: FollowUpState | None = None
    """How the source did after the grace period (:func:`dmarctui.history.source_progress`)."""
    reports_since: bool = True
    """Whether any report covers the notice day or later (else "no reports since")."""


def day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def period_text(finding: Finding) -> str:
    """Report periods end at the next midnight, so the last day shown is ``last_seen - 1``."""
    first, last = day(finding.first_seen), day(max(finding.first_seen, finding.last_seen - 1))
    return first if first == last else f"{first} – {last}"


def ptr_text(finding: Finding) -> str:
    if finding.ptr:
        return finding.ptr.rstrip(".")
    if finding.ptr_unconfirmed:
        return f"{finding.ptr_unconfirmed.rstrip('.')} (PTR unconfirmed)"
    return ""


def notice_cell(state: NoticeState | None) -> Text:
    if state is None:
        return Text("")
    verb = "sent" if state.notice.status == "sent" else "draft"
    if state.state == "improved":
        return Text(f"{verb} {state.notice.day[5:]} ✓", "green")
    return Text(f"{verb} {state.notice.day[5:]}", "green" if verb == "sent" else "cyan")


def row_cells(
    finding: Finding, marked: bool, axis: list[str], state: NoticeState | None
) -> list[Text | str]:
    style = SEVERITY_STYLES[finding.severity]
    return [
        Text("●" if marked else " ", "bold"),
        Text(finding.severity, style),
        Text(KIND_LABELS[finding.kind], style),
        finding.source_ip,
        Text(f"{finding.messages:,}", justify="right"),
        sparkline(finding.per_day, axis, SPARK_WIDTH),
        ptr_text(finding),
        finding.contact or "",
        period_text(finding),
        notice_cell(state),
    ]


def notice_line(state: NoticeState) -> Text:
    """``Sent 2024-11-15 to …: 6.1 failing messages/day before, 0.3/day since · improved``."""
    verb = "Sent" if state.notice.status == "sent" else "Drafted"
    since = f"{state.after:.1f}/day since" if state.reports_since else "no reports since"
    text = (
        f"{verb} {state.notice.day} to {', '.join(state.notice.recipients)}:"
        f" {state.before:.1f} failing messages/day before, {since}"
    )
    if state.state == "improved":
        return Text(text + " · improved: no failing mail after the grace period", "green")
    if state.state == "still_failing":
        return Text(text + " · still failing after the grace period: follow-up due", "yellow")
    return Text(text, "green" if state.after < state.before else "yellow")


def detail(finding: Finding, state: NoticeState | None) -> Group:
    """Everything about the highlighted row, so nothing is lost when columns are cut at 80×24."""
    style = SEVERITY_STYLES[finding.severity] or "bold"
    head = Text.assemble(
        (f"{KIND_LABELS[finding.kind]} ({finding.severity})", style),
        "  ",
        (finding.source_ip, "bold"),
    )
    if finding.ptr or finding.ptr_unconfirmed:
        head.append(f"  {ptr_text(finding)}")
    seen = Text(
        f"{period_text(finding)} · {count(finding.messages, 'message')} as {finding.header_from}"
        f" · reported by {', '.join(finding.reporters)}"
    )
    if finding.contact:
        who = Text.assemble("Contact: ", (finding.contact, "bold"), f" <{finding.contact_email}>")
    else:
        who = Text("No contact configured: n asks for the address", "dim")
    if finding.network:
        who.append(f" · network {finding.network}")
    lines = [head, seen, who]
    if state is not None:
        lines.append(notice_line(state))
    lines.append(Text(finding.advice, "italic"))
    return Group(*(literal(line) for line in lines))  # PTR, reporters, contact: from strangers
