"""Everything an export writes, streamed from the index in one pass.

Aggregate reports come from a single query over reports and their records in primary-key order
(the records index serves the join, so SQLite sorts nothing); records are grouped back into
their report as the rows arrive, so memory holds one report at a time whatever the folder's
size. Only distinct, counted reports are exported: the set that triage counts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from dmarctui.exchange import RecordRow, ReportHead
from dmarctui.index_queries import ReportFilter, report_where
from dmarctui.index_rows import failure_from_json, tls_from_json
from dmarctui.model import FailureReport, TlsReport

_HEAD_COLUMNS = ", ".join(f"r.{name}" for name in ReportHead._fields)
_RECORD_COLUMNS = (
    "x.idx, c.source_ip, x.count, c.disposition, c.dkim, c.spf, c.reasons, c.header_from,"
    " x.envelope_from, x.envelope_to, c.auth_dkim, c.auth_spf"
)
_HEAD_WIDTH = len(ReportHead._fields) + 1


def aggregate_sql(flt: ReportFilter) -> tuple[str, list[object]]:
    """The one query behind an aggregate export (the benchmark reads it plainly too)."""
    where, params = report_where(flt)
    sql = (
        f"SELECT r.pk, {_HEAD_COLUMNS}, {_RECORD_COLUMNS} FROM reports r"
        " JOIN messages m ON m.id = r.message_id"
        " LEFT JOIN records x ON x.report_pk = r.pk LEFT JOIN combos c ON c.id = x.combo_id"
        f"{where} AND r.counted ORDER BY r.pk, x.idx"
    )
    return sql, params


def aggregate_reports(
    conn: sqlite3.Connection, flt: ReportFilter
) -> Iterator[tuple[ReportHead, list[RecordRow]]]:
    """(report, its records) for every distinct counted report matching ``flt``."""
    sql, params = aggregate_sql(flt)
    current_pk = None
    head: ReportHead | None = None
    records: list[RecordRow] = []
    make_head = ReportHead._make
    for row in conn.execute(sql, params):
        pk = row[0]
        if pk != current_pk:
            if head is not None:
                yield head, records
            current_pk = pk
            head = make_head(row[1:_HEAD_WIDTH])
            records = []
        if row[_HEAD_WIDTH] is not None:
            records.append(row[_HEAD_WIDTH:])  # type: ignore[arg-type]
    if head is not None:
        yield head, records


def failure_reports(
    conn: sqlite3.Connection, flt: ReportFilter
) -> Iterator[tuple[str, FailureReport]]:
    """(document id, report) of each distinct failure report that arrived within the period
    and, with a domain filter, is about that domain."""
    rows = conn.execute(
        "SELECT f.digest, f.data FROM failures f JOIN messages m ON m.id = f.message_id"
        " WHERE f.is_first AND (? IS NULL OR f.arrival_epoch >= ?)"
        " AND (? IS NULL OR f.arrival_epoch <= ?) ORDER BY m.seq, f.idx",
        (flt.since, flt.since, flt.until, flt.until),
    )
    domain = (flt.domain or "").strip().rstrip(".").lower()
    for digest, data in rows:
        report = failure_from_json(data)
        if domain and domain not in (d.lower() for d in report.reported_domain):
            continue
        yield digest, report


def tls_reports(conn: sqlite3.Connection, flt: ReportFilter) -> Iterator[tuple[str, TlsReport]]:
    """(document id, report) of each distinct TLS report overlapping the period and, with a
    domain filter, covering that policy domain."""
    rows = conn.execute(
        "SELECT t.digest, t.data FROM tls t JOIN messages m ON m.id = t.message_id"
        " WHERE t.is_first AND (? IS NULL OR t.end >= ?) AND (? IS NULL OR t.begin <= ?)"
        " ORDER BY m.seq, t.idx",
        (flt.since, flt.since, flt.until, flt.until),
    )
    domain = (flt.domain or "").strip().rstrip(".").lower()
    for digest, data in rows:
        report = tls_from_json(data)
        if domain and domain not in (p.policy_domain.lower() for p in report.policies):
            continue
        yield digest, report
