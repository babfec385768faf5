"""How one report row reads in the list: column layout and rich Text cells.

Cells are rich ``Text`` so that wide (Japanese) characters are measured in terminal cells, never
by ``len()``; the same layout draws the header and every row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from rich.text import Text

from dmarctui.tui.safe_text import plain

if TYPE_CHECKING:
    from dmarctui.index import ReportRow

Justify = Literal["left", "right"]

DAY = 86_400


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    """The ``ReportRow`` field the index sorts by when this column is chosen."""
    title: str
    width: int
    """Cells; 0 = a text column sharing what is left, between ``TEXT_MIN`` and ``TEXT_MAX``."""
    justify: Justify = "left"
    drop: int = 0
    """Order in which a narrow terminal hides the column (1 first); 0 = always shown."""


TEXT_MIN = 12
"""A reporter or domain narrower than this reads as "examp…": hide a number column instead."""
TEXT_MAX = 36
"""Wider than the longest usual reporter or domain: a wide terminal keeps the numbers close."""

COLUMNS: tuple[Column, ...] = (
    Column("begin", "Period", 13),
    Column("org_name", "Reporter", 0),
    Column("domain", "Domain", 0),
    Column("records", "Recs", 5, "right", drop=1),
    Column("messages", "Msgs", 7, "right"),
    Column("failed", "Pass", 5, "right"),
    Column("quarantine", "Q/R", 8, "right", drop=2),
    Column("status", "", 4),
)
SORT_TITLES: dict[str, str] = {
    "begin": "period start",
    "end": "period end",
    "org_name": "reporter",
    "domain": "policy domain",
    "records": "records",
    "messages": "messages",
    "failed": "failing messages",
    "quarantine": "quarantined",
    "reject": "rejected",
}
GAP = 1


def column_widths(total: int) -> list[int]:
    """Widths for ``COLUMNS`` in ``total`` cells; 0 = hidden.

    Text columns share what the number columns leave, each between ``TEXT_MIN`` and
    ``TEXT_MAX``; when even ``TEXT_MIN`` does not fit, number columns are hidden in ``drop``
    order. Space beyond every maximum stays blank at the right.
    """
    shown = list(COLUMNS)
    flexible = [c for c in COLUMNS if c.width == 0]

    def needed(columns: list[Column]) -> int:
        return sum(c.width or TEXT_MIN for c in columns) + GAP * (len(columns) - 1)

    for column in sorted((c for c in COLUMNS if c.drop), key=lambda c: c.drop):
        if needed(shown) <= total:
            break
        shown.remove(column)
    fixed = sum(c.width for c in shown) + GAP * (len(shown) - 1)
    share, extra = divmod(max(total - fixed, TEXT_MIN * len(flexible)), len(flexible))
    widths = []
    for column in COLUMNS:
        if column not in shown:
            widths.append(0)
        elif column.width:
            widths.append(column.width)
        else:
            widths.append(min(share + (1 if extra > 0 else 0), TEXT_MAX))
            extra -= 1
    return widths


def utc_day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def period(begin: int, end: int) -> str:
    """``2024-11-03 1d``: the first UTC day and how many days the report covers."""
    days = max(1, round((end - begin) / DAY))
    return f"{utc_day(begin)} {days}d"


def pass_share(passed: int, failed: int) -> str:
    total = passed + failed
    if total == 0:
        return "–"
    return f"{100 * passed // total}%"


def badges(row: ReportRow) -> Text:
    """R recovered, D has duplicates, C report_id collision, ~ merged (not counted)."""
    text = Text()
    if row.status == "recovered":
        text.append("R", "bold yellow")
    if row.duplicates:
        text.append("D", "cyan")
    if row.collision:
        text.append("C", "magenta")
    if not row.counted:
        text.append("~", "dim")
    return text


def row_cells(row: ReportRow) -> list[Text]:
    failing = row.failed > 0
    enforced = row.quarantine + row.reject
    return [
        Text(period(row.begin, row.end)),
        plain(row.org_name or row.email),
        plain(row.domain),
        Text(str(row.records)),
        Text(str(row.messages)),
        Text(pass_share(row.passed, row.failed), "bold red" if failing else "green"),
        Text(f"{row.quarantine}/{row.reject}" if enforced else "–", "bold red" if enforced else ""),
        badges(row),
    ]


def header_cells() -> list[Text]:
    return [Text(c.title) for c in COLUMNS]


def layout_line(cells: list[Text], widths: list[int]) -> Text:
    """Cells truncated or padded to their widths (in terminal cells) and joined by a gap;
    columns of width 0 are hidden."""
    line = Text(no_wrap=True, end="")
    for cell, width, column in zip(cells, widths, COLUMNS, strict=True):
        if not width:
            continue
        if line:
            line.append(" " * GAP)
        cell = cell.copy()
        cell.truncate(width, overflow="ellipsis")
        pad = width - cell.cell_len
        if column.justify == "right":
            line.append(" " * pad)
            line.append_text(cell)
        else:
            line.append_text(cell)
            line.append(" " * pad)
    return line
