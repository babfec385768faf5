"""Report filters as people type and read them: dates as UTC days, a one-line description."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dmarctui.index import ReportFilter

DAY = 86_400


def parse_day(text: str) -> int | None:
    """``2024-11-03`` → the epoch of that UTC midnight; empty → ``None``; else ``ValueError``."""
    text = text.strip()
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2024-11-03") from None
    return int(day.timestamp())


def format_day(epoch: int | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def describe(flt: ReportFilter) -> str:
    """``domain=example.ac.jp, failing`` — or ``all reports``."""
    parts = []
    if flt.text:
        parts.append(f"“{flt.text}”")
    if flt.domain:
        parts.append(f"domain={flt.domain}")
    if flt.reporter:
        parts.append(f"reporter={flt.reporter}")
    if flt.source:
        parts.append(f"source={flt.source}")
    if flt.since is not None:
        parts.append(f"from {format_day(flt.since)}")
    if flt.until is not None:
        parts.append(f"until {format_day(flt.until)}")
    if flt.result:
        parts.append("failing" if flt.result == "fail" else "passing")
    if flt.disposition:
        parts.append(f"disposition={flt.disposition}")
    return ", ".join(parts) if parts else "all reports"


def is_filtered(flt: ReportFilter) -> bool:
    return describe(flt) != "all reports"
