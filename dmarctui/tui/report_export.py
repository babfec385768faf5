"""Save listed reports' XML from the index, named and deduplicated as ``dmarctui extract`` does."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dmarctui.extract import extract_indexed

if TYPE_CHECKING:
    from dmarctui.index import Index, ReportFilter, ReportRow

PAGE = 500


def default_reports_dir() -> str:
    """Where ``e``/``E`` save XML unless the user types another folder, as shown in the prompt.

    ``$XDG_DATA_HOME/dmarctui/reports``, else ``~/.local/share/dmarctui/reports``: under the
    user's home, never the current directory (which may be a checkout or the mail folder).
    """
    base = os.environ.get("XDG_DATA_HOME") or ""
    if base and Path(base).is_absolute():
        return str(Path(base) / "dmarctui" / "reports")
    return "~/.local/share/dmarctui/reports"


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
