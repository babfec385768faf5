"""Save listed reports' XML from the index, named and deduplicated as ``dmarctui extract`` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dmarctui.extract import extract_indexed

if TYPE_CHECKING:
    from dmarctui.index import Index, ReportFilter, ReportRow

PAGE = 500


def export_reports(
    index: Index,
    out_dir: Path,
    flt: ReportFilter,
    sort: str,
    descending: bool,
    rows: list[ReportRow] | None = None,
) -> str:
    """Write ``rows`` (or every report matching ``flt``); returns a one-line summary.

    Raises:
        OSError: the directory cannot be created or written.
        ValueError: the directory is inside the mail folder.
    """
    chosen = rows if rows is not None else _all_rows(index, flt, sort, descending)
    actions, failed = extract_indexed(index, out_dir, chosen)
    wrote = sum(1 for a in actions if a.action == "wrote")
    summary = f"{wrote} written, {len(actions) - wrote} identical skipped in {out_dir.resolve()}"
    if failed:
        summary += f"; {len(failed)} could not be read again (last: {failed[-1]})"
    return summary


def _all_rows(index: Index, flt: ReportFilter, sort: str, descending: bool) -> Iterator[ReportRow]:
    offset = 0
    while True:
        page = index.reports_page(flt, sort=sort, descending=descending, offset=offset, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE
