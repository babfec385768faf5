"""Paged, sorted, filtered reads of the index: what the TUI lists and the exports print.

Every list is a ``LIMIT``/``OFFSET`` page over indexed columns, so a screen never loads more than
it shows. Only distinct reports are listed (duplicate copies are in :func:`duplicates`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from typing import Any, Literal

from dmarctui.index_rows import (
    RECORD_X,
    RECORDS_X,
    REPORT_SELECT,
    failure_from_json,
    record_from_row,
    report_from_row,
    tls_from_json,
)
from dmarctui.index_schema import network_range
from dmarctui.ledger import FoundFailure, FoundTls
from dmarctui.model import (
    AggregateReport,
    Collision,
    Duplicate,
    MessageRef,
    MessageSummary,
    Problem,
    Record,
)


@dataclass(frozen=True)
class ReportFilter:
    """Which reports to list; every field is optional and they combine with AND.

    ``text`` searches org name, email, report id, policy domain and file name; ``since`` and
    ``until`` (epoch seconds, inclusive) keep reports whose date range overlaps the period;
    ``source`` is an IP address or a CIDR network a record must come from.
    """

    text: str | None = None
    domain: str | None = None
    reporter: str | None = None
    since: int | None = None
    until: int | None = None
    source: str | None = None
    result: Literal["pass", "fail"] | None = None
    disposition: str | None = None
    failing_first: bool = False


@dataclass(frozen=True)
class ReportRow:
    """One distinct report as a list shows it."""

    pk: int
    message: str
    part: str
    filename: str | None
    org_name: str
    email: str
    report_id: str
    begin: int
    end: int
    domain: str
    p: str
    records: int
    messages: int
    passed: int
    """Messages whose DMARC evaluation passed (aligned DKIM or SPF)."""
    failed: int
    none: int
    quarantine: int
    reject: int
    status: str
    """``ok`` or ``recovered``."""
    duplicates: int
    """Further copies of this report found in the folder."""
    collision: bool
    counted: bool


@dataclass(frozen=True)
class ReportDetail:
    row: ReportRow
    report: AggregateReport
    ref: MessageRef
    summary: MessageSummary


_ROW_SQL = {
    "pk": "r.pk", "message": "m.key", "part": "r.part", "filename": "r.filename",
    "org_name": "r.org_name", "email": "r.email", "report_id": "r.report_id",
    "begin": "r.begin", "end": "r.end", "domain": "r.domain", "p": "r.p",
    "records": "r.record_count", "messages": "r.messages_total", "passed": "r.passed",
    "failed": "r.failed", "none": "r.d_none", "quarantine": "r.d_quarantine",
    "reject": "r.d_reject", "status": "r.status", "duplicates": "r.copies",
    "collision": "r.collision", "counted": "r.counted",
}  # fmt: skip
assert list(_ROW_SQL) == [f.name for f in fields(ReportRow)]
SORT_COLUMNS = tuple(_ROW_SQL)
_ROW_COLUMNS = ", ".join(_ROW_SQL.values())
_FROM = " FROM reports r JOIN messages m ON m.id = r.message_id"


def _row(values: tuple[Any, ...]) -> ReportRow:
    row = list(values)
    row[-2] = bool(row[-2])
    row[-1] = bool(row[-1])
    return ReportRow(*row)


def _where(flt: ReportFilter) -> tuple[str, list[Any]]:
    clauses = ["r.is_first"]
    params: list[Any] = []
    if flt.text:
        like = f"%{_escape(flt.text)}%"
        clauses.append(
            "(" + " OR ".join(
                f"r.{c} LIKE ? ESCAPE '\\'"
                for c in ("org_name", "email", "report_id", "domain", "filename")
            ) + ")"
        )  # fmt: skip
        params += [like] * 5
    if flt.domain:
        clauses.append("r.domain = ? COLLATE NOCASE")
        params.append(flt.domain.strip().rstrip("."))
    if flt.reporter:
        who = flt.reporter.strip()
        clauses.append(
            "(r.org_name = ? COLLATE NOCASE OR r.email = ? COLLATE NOCASE"
            " OR r.email LIKE ? ESCAPE '\\')"
        )
        params += [who, who, f"%@{_escape(who)}"]
    if flt.since is not None:
        clauses.append("r.end >= ?")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append("r.begin <= ?")
        params.append(flt.until)
    if flt.source:
        low, high = network_range(flt.source)
        clauses.append(
            f"EXISTS (SELECT 1 FROM {RECORDS_X} WHERE x.report_pk = r.pk"
            " AND c.ip_key BETWEEN ? AND ?)"
        )
        params += [low, high]
    if flt.result == "pass":
        clauses.append("r.passed > 0")
    elif flt.result == "fail":
        clauses.append("r.failed > 0")
    if flt.disposition:
        clauses.append(
            f"EXISTS (SELECT 1 FROM {RECORDS_X} WHERE x.report_pk = r.pk AND c.disposition = ?)"
        )
        params.append(flt.disposition.strip().lower())
    return " WHERE " + " AND ".join(clauses), params


report_where = _where
"""The WHERE clause (over ``reports r``) of the distinct reports a filter keeps, and its
parameters: exports stream with the same filter the lists use."""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def count_reports(conn: sqlite3.Connection, flt: ReportFilter) -> int:
    where, params = _where(flt)
    return int(conn.execute("SELECT count(*)" + _FROM + where, params).fetchone()[0])


def reports_page(
    conn: sqlite3.Connection,
    flt: ReportFilter,
    *,
    sort: str = "begin",
    descending: bool = True,
    offset: int = 0,
    limit: int = 100,
) -> list[ReportRow]:
    """One page of distinct reports; ``sort`` is any :class:`ReportRow` field name."""
    if sort not in _ROW_SQL:
        raise ValueError(f"cannot sort by {sort!r}; choose one of {', '.join(SORT_COLUMNS)}")
    where, params = _where(flt)
    direction = "DESC" if descending else "ASC"
    order = f"{_ROW_SQL[sort]} {direction}, r.pk {direction}"
    if flt.failing_first:
        order = "r.failed DESC, " + order  # most failing messages first
    sql = f"SELECT {_ROW_COLUMNS}{_FROM}{where} ORDER BY {order} LIMIT ? OFFSET ?"
    return [_row(v) for v in conn.execute(sql, [*params, max(0, limit), max(0, offset)])]


def report_row(conn: sqlite3.Connection, pk: int) -> ReportRow:
    values = conn.execute(f"SELECT {_ROW_COLUMNS}{_FROM} WHERE r.pk = ?", (pk,)).fetchone()
    if values is None:
        raise KeyError(f"no report {pk} in the index (it may have left the folder)")
    return _row(values)


def records_of(conn: sqlite3.Connection, pk: int) -> tuple[Record, ...]:
    rows = conn.execute(
        f"SELECT {RECORD_X} FROM {RECORDS_X} WHERE x.report_pk = ? ORDER BY x.idx", (pk,)
    )
    return tuple(record_from_row(r) for r in rows)


def aggregate_report(conn: sqlite3.Connection, pk: int) -> AggregateReport:
    values = conn.execute(f"SELECT {REPORT_SELECT} FROM reports r WHERE r.pk = ?", (pk,))
    row = values.fetchone()
    if row is None:
        raise KeyError(f"no report {pk} in the index (it may have left the folder)")
    return report_from_row(row, records_of(conn, pk))


def message(conn: sqlite3.Connection, key: str) -> tuple[MessageRef, MessageSummary]:
    row = conn.execute(
        "SELECT key, location, size, mtime, subject, sender, date, message_id FROM messages"
        " WHERE key = ?",
        (key,),
    ).fetchone()
    if row is None:
        raise KeyError(f"no message {key} in the index (it may have left the folder)")
    return MessageRef(*row[:4]), MessageSummary(*row[4:])


def report_detail(conn: sqlite3.Connection, pk: int) -> ReportDetail:
    row = report_row(conn, pk)
    ref, summary = message(conn, row.message)
    return ReportDetail(row, aggregate_report(conn, pk), ref, summary)


_SOURCE_RECORDS = (
    "combos c CROSS JOIN records x ON x.combo_id = c.id JOIN reports r ON r.pk = x.report_pk"
)
"""The records of a source or network: its combinations by ``combos_ip_key`` first, then their
records by ``records_combo`` (CROSS JOIN keeps that order), each with its report."""


def records_for_source(conn: sqlite3.Connection, ip: str) -> list[tuple[ReportRow, Record]]:
    """Every record of a distinct report sent from ``ip`` (an address or a CIDR), oldest first."""
    low, high = network_range(ip)
    rows: dict[int, ReportRow] = {}
    out = []
    for values in conn.execute(
        f"SELECT x.report_pk, {RECORD_X} FROM {_SOURCE_RECORDS}"
        " WHERE c.ip_key BETWEEN ? AND ? AND r.is_first ORDER BY r.begin, r.pk, x.idx",
        (low, high),
    ).fetchall():
        pk = values[0]
        if pk not in rows:
            rows[pk] = report_row(conn, pk)
        out.append((rows[pk], record_from_row(values[1:])))
    return out


def source_totals(conn: sqlite3.Connection, ip: str) -> tuple[int, int, int]:
    """(records, reports, messages) of distinct reports sent from ``ip`` (address or CIDR)."""
    low, high = network_range(ip)
    records, reports, messages = conn.execute(
        "SELECT count(*), count(DISTINCT x.report_pk), coalesce(sum(x.count), 0)"
        f" FROM {_SOURCE_RECORDS} WHERE c.ip_key BETWEEN ? AND ? AND r.is_first",
        (low, high),
    ).fetchone()
    return int(records), int(reports), int(messages)


def source_records_page(
    conn: sqlite3.Connection, ip: str, *, offset: int = 0, limit: int = 200
) -> list[tuple[ReportRow, Record]]:
    """One page of the records sent from ``ip``, newest report first (then folder order)."""
    low, high = network_range(ip)
    rows: dict[int, ReportRow] = {}
    out = []
    for values in conn.execute(
        f"SELECT x.report_pk, {RECORD_X} FROM {_SOURCE_RECORDS}"
        " WHERE c.ip_key BETWEEN ? AND ? AND r.is_first ORDER BY r.begin DESC, r.pk, x.idx"
        " LIMIT ? OFFSET ?",
        (low, high, max(0, limit), max(0, offset)),
    ).fetchall():
        pk = values[0]
        if pk not in rows:
            rows[pk] = report_row(conn, pk)
        out.append((rows[pk], record_from_row(values[1:])))
    return out


def counted_pks(
    conn: sqlite3.Connection, since: int | None = None, until: int | None = None
) -> list[int]:
    """Distinct, counted reports overlapping the period, in folder order (triage input)."""
    rows = conn.execute(
        "SELECT r.pk" + _FROM + " WHERE r.counted AND (? IS NULL OR r.end >= ?)"
        " AND (? IS NULL OR r.begin <= ?) ORDER BY m.seq, r.pk",
        (since, since, until, until),
    )
    return [pk for (pk,) in rows]


def counted_heads(
    conn: sqlite3.Connection, until: int | None = None
) -> list[tuple[int, str, str, str]]:
    """``(pk, org_name, email, status)`` of the counted reports starting before ``until`` (as
    :func:`dmarctui.triage.in_period`): what a summary needs of each report, not its records."""
    rows = conn.execute(
        "SELECT r.pk, r.org_name, r.email, r.status" + _FROM + " WHERE r.counted"
        " AND (? IS NULL OR r.begin < ?) ORDER BY m.seq, r.pk",
        (until, until),
    )
    return [(pk, org or "", email or "", status) for pk, org, email, status in rows]


def daily_totals(conn: sqlite3.Connection, source_ip: str | None = None) -> list[tuple[str, int]]:
    """Messages per UTC day (of each report's begin), from counted reports, oldest first."""
    sql = (
        "SELECT date(r.begin, 'unixepoch') AS day, sum(x.count) FROM records x"
        " JOIN reports r ON r.pk = x.report_pk WHERE r.counted"
    )
    params: list[Any] = []
    if source_ip:
        low, high = network_range(source_ip)
        sql = (
            f"SELECT date(r.begin, 'unixepoch') AS day, sum(x.count) FROM {_SOURCE_RECORDS}"
            " WHERE r.counted AND c.ip_key BETWEEN ? AND ?"
        )
        params += [low, high]
    sql += " GROUP BY day ORDER BY day"
    return [(day, int(total)) for day, total in conn.execute(sql, params)]


def buckets(conn: sqlite3.Connection) -> dict[str, int]:
    from dmarctui.model import BUCKETS

    counts: dict[str, int] = dict.fromkeys(BUCKETS, 0)
    for bucket, n in conn.execute(
        "SELECT bucket, count(*) FROM messages WHERE bucket IS NOT NULL GROUP BY bucket"
    ):
        counts[bucket] = n
    return counts


def found_failures(conn: sqlite3.Connection) -> list[FoundFailure]:
    rows = conn.execute(
        "SELECT m.key, f.data FROM failures f JOIN messages m ON m.id = f.message_id"
        " WHERE f.is_first ORDER BY m.seq, f.idx"
    )
    return [FoundFailure(key, failure_from_json(data)) for key, data in rows]


def found_tls(conn: sqlite3.Connection) -> list[FoundTls]:
    rows = conn.execute(
        "SELECT m.key, t.data FROM tls t JOIN messages m ON m.id = t.message_id"
        " WHERE t.is_first ORDER BY m.seq, t.idx"
    )
    return [FoundTls(key, tls_from_json(data)) for key, data in rows]


def duplicates(conn: sqlite3.Connection) -> list[Duplicate]:
    rows = conn.execute("SELECT message, duplicate_of, why, report_id FROM duplicates ORDER BY id")
    return [Duplicate(*row) for row in rows]


def collisions(conn: sqlite3.Connection) -> list[Collision]:
    rows = conn.execute(
        "SELECT report_id, first, second, reason, detail, counted_once FROM collisions ORDER BY id"
    )
    return [
        Collision(report_id, first, second, reason, detail, bool(counted_once))
        for report_id, first, second, reason, detail, counted_once in rows
    ]


def issues(conn: sqlite3.Connection, kind: str) -> list[Problem]:
    rows = conn.execute(
        "SELECT message, reason, part, filename FROM issues WHERE kind = ? ORDER BY id", (kind,)
    )
    return [Problem(*row) for row in rows]
