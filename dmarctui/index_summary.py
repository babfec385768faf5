"""What ``dmarctui scan`` prints, read from the index with aggregates instead of rebuilding it.

:func:`summary` gives the text summary's figures and :func:`scan_dict` the ``--json`` object,
both equal to what :func:`dmarctui.export.scan_to_dict` and ``print_summary`` make of a full
:meth:`dmarctui.index.Index.scan_result`, which reloads every record and stays the reference in
the tests. Only messages with errors or warnings, duplicates, collisions and the (few) failure and
TLS reports are read row by row.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dmarctui import index_queries as q
from dmarctui.export import tls_to_dict
from dmarctui.model import BUCKETS, Collision, Duplicate, FolderFormat, Problem


@dataclass
class ScanSummary:
    """The figures of a scan's text summary."""

    folder: Path
    format: FolderFormat
    buckets: dict[str, int]
    reports: int = 0
    """Distinct aggregate reports."""
    begin: int | None = None
    end: int | None = None
    messages_covered: int = 0
    """Messages the counted reports cover."""
    recovered: int = 0
    policy_domains: list[str] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    locations: dict[str, str] = field(default_factory=dict)
    """Folder location of each message named by an error or a warning."""
    cancelled: bool = False
    elapsed: float = 0.0

    @property
    def messages(self) -> int:
        return sum(self.buckets.values())


def summary(conn: sqlite3.Connection, folder: Path, fmt: FolderFormat) -> ScanSummary:
    result = ScanSummary(folder, fmt, q.buckets(conn))
    reports, begin, end, covered, recovered = conn.execute(
        "SELECT count(*), min(begin), max(end),"
        " coalesce(sum(CASE WHEN counted THEN messages_total ELSE 0 END), 0),"
        " coalesce(sum(status = 'recovered'), 0) FROM reports WHERE is_first"
    ).fetchone()
    result.reports, result.begin, result.end = reports, begin, end
    result.messages_covered, result.recovered = covered, recovered
    result.policy_domains = sorted(
        d for (d,) in conn.execute("SELECT DISTINCT domain FROM reports WHERE is_first")
    )
    result.duplicates = q.duplicates(conn)
    result.collisions = q.collisions(conn)
    result.errors = q.issues(conn, "error")
    result.warnings = q.issues(conn, "warning")
    named = {p.message for p in (*result.errors, *result.warnings)}
    for key in named:
        row = conn.execute("SELECT location FROM messages WHERE key = ?", (key,)).fetchone()
        if row is not None:
            result.locations[key] = row[0]
    result.cancelled = _cancelled(conn)
    return result


def _cancelled(conn: sqlite3.Connection) -> bool:
    complete = conn.execute("SELECT value FROM meta WHERE key = 'complete'").fetchone()
    return complete is not None and complete[0] != "1"


def scan_dict(conn: sqlite3.Connection, folder: Path, fmt: FolderFormat) -> dict[str, Any]:
    """``scan --json`` from the index: one row per report, never its records."""
    buckets = q.buckets(conn)
    reports = [
        {
            "message": key,
            "location": location,
            "part": part,
            "filename": filename,
            "org_name": org_name,
            "email": email,
            "report_id": report_id,
            "begin": begin,
            "end": end,
            "domain": domain,
            "p": p,
            "records": records,
            "messages_total": total,
            "status": status,
            "counted": bool(counted),
            "repairs": json.loads(repairs),
            "normalised": json.loads(normalised),
        }
        for (key, location, part, filename, org_name, email, report_id, begin, end, domain, p,
             records, total, status, counted, repairs, normalised) in conn.execute(
            "SELECT m.key, m.location, r.part, r.filename, r.org_name, r.email, r.report_id,"
            " r.begin, r.end, r.domain, r.p, r.record_count, r.messages_total, r.status,"
            " r.counted, r.repairs, r.normalised"
            " FROM reports r JOIN messages m ON m.id = r.message_id WHERE r.is_first"
            " ORDER BY m.seq, r.pk"
        )
    ]  # fmt: skip
    return {
        "folder": str(folder),
        "format": fmt,
        "messages": sum(buckets.values()),
        "cancelled": _cancelled(conn),
        "buckets": {name: buckets.get(name, 0) for name in BUCKETS},
        "reports": reports,
        "failures": [{"message": f.message, **asdict(f.report)} for f in q.found_failures(conn)],
        "tls": [tls_to_dict(t.message, t.report) for t in q.found_tls(conn)],
        "duplicates": [asdict(d) for d in q.duplicates(conn)],
        "collisions": [asdict(c) for c in q.collisions(conn)],
        "errors": [_problem(e) for e in q.issues(conn, "error")],
        "warnings": [_problem(w) for w in q.issues(conn, "warning")],
        "not_reports": [
            {"message": n.message, "reason": n.reason} for n in q.issues(conn, "not_report")
        ],
    }


def _problem(p: Problem) -> dict[str, Any]:
    return {"message": p.message, "reason": p.reason, "part": p.part, "filename": p.filename}
