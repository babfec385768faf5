"""Rich renderables for one report: metadata and policy, repairs, auth results of a record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from dmarctui.display_text import visible
from dmarctui.tui.safe_text import PlainTable
from dmarctui.wording import count

if TYPE_CHECKING:
    from dmarctui.index import ReportRow
    from dmarctui.model import AggregateReport, Record


def utc_time(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _facts(title: str) -> Table:
    table = PlainTable.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.title = title
    table.title_justify = "left"
    table.title_style = "bold underline"
    return table


def metadata_table(row: ReportRow, report: AggregateReport) -> Table:
    """Who reported what, for which period, under which published policy, from which message."""
    meta = report.report_metadata
    policy = report.policy_published
    table = _facts("Report")
    table.add_row("Reporter", meta.org_name)
    table.add_row("Email", meta.email)
    if meta.extra_contact_info:
        table.add_row("Contact", meta.extra_contact_info)
    table.add_row("Report ID", meta.report_id)
    table.add_row("Period", f"{utc_time(meta.date_range.begin)} → {utc_time(meta.date_range.end)}")
    table.add_row("Records", f"{len(report.records):,} ({count(report.messages_total, 'message')})")
    table.add_row(
        "DMARC",
        Text.assemble(
            (f"{row.passed:,} passed", "green"),
            "  ",
            (f"{row.failed:,} failed", "red" if row.failed else ""),
        ),
    )
    table.add_row(
        "Disposition", f"none {row.none:,} · quarantine {row.quarantine:,} · reject {row.reject:,}"
    )
    status = (
        Text("recovered from invalid XML", "bold yellow")
        if report.status == "recovered"
        else Text("ok", "green")
    )
    table.add_row("Status", status)
    if row.duplicates:
        table.add_row("Duplicates", f"{row.duplicates} more copies of this report (not counted)")
    if row.collision:
        table.add_row("Collision", "another report shares this report_id (see Problems)")
    if not row.counted:
        table.add_row("Counted", "no: merged into an earlier report with the same records")
    for error in meta.error:
        table.add_row("Reporter error", error)
    if meta.generator:
        table.add_row("Generator", meta.generator)
    if report.version or report.namespace:
        table.add_row("Format", " ".join(v for v in (report.version, report.namespace) if v))
    table.add_row("Message", row.message)
    table.add_row("Part", row.part)
    if row.filename and row.filename not in row.part:
        table.add_row("File", row.filename)

    published = _facts("Policy published")
    published.add_row("Domain", policy.domain)
    published.add_row("p", policy.p)
    for name in ("sp", "np", "adkim", "aspf", "pct", "fo", "testing", "discovery_method"):
        value = getattr(policy, name)
        if value is not None:
            published.add_row(name, str(value))

    both = Table.grid(padding=(1, 0))
    both.add_column()
    both.add_row(table)
    both.add_row(published)
    return both


def repairs_table(report: AggregateReport) -> Table:
    """What was changed to read the report: byte repairs and normalised spellings."""
    table = _facts("Repaired / normalised")
    for repair in report.repairs:
        table.add_row(f"line {repair.line}, col {repair.column}", f"{repair.kind}: {repair.detail}")
    for change in report.normalised:
        table.add_row(change.where, f"{change.original!r} → {change.value!r}")
    return table


def auth_results(record: Record) -> Text:
    """``dkim=example.ac.jp/s1:fail spf=mfrom:lab.example.ac.jp:pass`` with results coloured."""
    text = Text(no_wrap=True)
    for dkim in record.dkim:
        selector = f"/{dkim.selector}" if dkim.selector else ""
        _result(text, visible(f"dkim={dkim.domain}{selector}:"), visible(dkim.result))
    for spf in record.spf:
        scope = f"{spf.scope}:" if spf.scope else ""
        _result(text, visible(f"spf={scope}{spf.domain}:"), visible(spf.result))
    return text


def _result(text: Text, label: str, result: str) -> None:
    if text:
        text.append(" ")
    text.append(label)
    text.append(result, "green" if result == "pass" else "red")


SHORT_ID = 9
"""Cells the report ID keeps at least in a narrow title (``abcd…wxyz``)."""


def middle_ellipsis(text: str, width: int) -> str:
    """``20241103…4f2a`` — both ends of an identifier stay, since either may be the one to find."""
    if cell_len(text) <= width:
        return text
    if width < 3:
        return text[:width]
    keep = width - 1
    head = Text(text)
    head.truncate(keep - keep // 2)
    tail_chars: list[str] = []
    for char in reversed(text):
        if cell_len("".join(tail_chars)) + cell_len(char) > keep // 2:
            break
        tail_chars.insert(0, char)
    return f"{head.plain}…{''.join(tail_chars)}"


def report_title(row: ReportRow, width: int) -> Text:
    """``Reporter · domain · period · report-id`` fitted to ``width``: the ID is shortened in
    the middle first, then the reporter, so the ID never disappears."""
    from dmarctui.tui.report_cells import period

    reporter = visible(row.org_name or row.email)
    report_id = visible(row.report_id)
    domain = visible(row.domain)
    rest = cell_len(f" · {domain} · {period(row.begin, row.end)} · ")
    room = width - rest - cell_len(reporter)
    if room < cell_len(report_id):
        report_id = middle_ellipsis(report_id, max(room, SHORT_ID))
        room = width - rest - cell_len(report_id)
        if room < cell_len(reporter):
            short = Text(reporter)
            short.truncate(max(room, 4), overflow="ellipsis")
            reporter = short.plain
    title = Text.assemble(
        (reporter, "bold"),
        " · ",
        domain,
        " · ",
        period(row.begin, row.end),
        " · ",
        (report_id, "dim"),
        no_wrap=True,
        overflow="ellipsis",
    )
    title.truncate(max(width, 1), overflow="ellipsis")
    return title
