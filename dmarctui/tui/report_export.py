"""Save listed reports' XML from the index, named and deduplicated as ``dmarctui extract`` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dmarctui.extract import write_report
from dmarctui.mailstore import MailStoreError
from dmarctui.model import FoundReport

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
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir = out_dir.resolve()
    wrote = skipped = failed = 0
    chosen = rows if rows is not None else _all_rows(index, flt, sort, descending)
    for row in chosen:
        try:
            xml = index.report_xml(row.pk)
        except (LookupError, ValueError, MailStoreError) as exc:
            failed += 1
            last_error = f"{row.message}: {exc}"
            continue
        detail = index.report(row.pk)
        found = FoundReport(row.message, row.part, row.filename, detail.report, content_key="")
        action = write_report(out_dir, found, xml)
        if action.action == "wrote":
            wrote += 1
        else:
            skipped += 1
    summary = f"{wrote} written, {skipped} identical skipped in {out_dir}"
    if failed:
        summary += f"; {failed} could not be read again (last: {last_error})"
    return summary


def _all_rows(index: Index, flt: ReportFilter, sort: str, descending: bool) -> Iterator[ReportRow]:
    offset = 0
    while True:
        page = index.reports_page(flt, sort=sort, descending=descending, offset=offset, limit=PAGE)
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE
