"""The index: a SQLite file per mail folder holding everything a scan learnt.

Reopening an indexed folder shows its reports at once; :meth:`Index.update` then reads only new
or changed messages. The mail folder itself is only ever read. One connection is shared by the
update (which may run in a worker thread) and the queries, serialised by a lock.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sqlite3
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from dmarctui import index_export, index_summary
from dmarctui import index_queries as q
from dmarctui.config import Config
from dmarctui.exchange import RecordRow, ReportHead
from dmarctui.index_queries import ReportDetail, ReportFilter, ReportRow
from dmarctui.index_schema import (
    IndexStoreError,
    check_same_file,
    connect,
    connect_reader,
    default_db_path,
    file_identity,
    storage_error,
)
from dmarctui.index_summary import ScanSummary
from dmarctui.index_triage import IndexTriage, ranking_stored
from dmarctui.index_triage import Progress as TriageProgress
from dmarctui.index_update import UpdateStats, update
from dmarctui.ledger import FoundFailure, FoundTls, Ledger
from dmarctui.mailstore import MailStore, MailStoreError, open_store, read_message
from dmarctui.model import (
    AggregateReport,
    Collision,
    Duplicate,
    FailureReport,
    FolderFormat,
    FoundReport,
    MessageRef,
    MessageSummary,
    Problem,
    Record,
    TlsReport,
)
from dmarctui.scan import Progress, ScanResult

if TYPE_CHECKING:  # the parser: only to read a report's XML again
    from dmarctui.payloads import Limits

__all__ = [
    "Index",
    "IndexStoreError",
    "ReportDetail",
    "ReportFilter",
    "ReportRow",
    "UpdateStats",
    "default_db_path",
]


_I = TypeVar("_I")


def _guard_storage(cls: type[_I]) -> type[_I]:
    """Every public method of ``Index`` turns a SQLite failure (a damaged file, a full disk)
    into an ``IndexStoreError`` of one line saying what to do, whichever query meets it."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generator(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return (yield from method(self, *args, **kwargs))
                except sqlite3.Error as exc:
                    raise storage_error(self.db_path, exc) from None

            return generator

        @functools.wraps(method)
        def plain(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise storage_error(self.db_path, exc) from None

        return plain

    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, wrap(member))
    return cls


SPILL_RECORDS = 1_000_000
"""Records from which :meth:`Index.prepare_ranking` keeps the count's working tables in
temporary files, not in memory: at two million records they took the cold scan of 10,000
reports of 200 records to 305 MB, over its 250 MB target; at this size the count takes about
a quarter longer (a second or two of a scan of a minute)."""


@_guard_storage
class Index:
    """The index of one mail folder. Open it with :meth:`open`; close it when done."""

    def __init__(
        self,
        store: MailStore,
        conn: sqlite3.Connection,
        db_path: Path | None,
        notices: list[str] | None = None,
    ) -> None:
        self.store = store
        self.notices: list[str] = notices or []
        """One-line messages for the user from opening the index (a schema upgrade)."""
        self.folder: Path = store.path
        self.format: FolderFormat = store.format
        self.db_path = db_path
        self._file = None if db_path is None else file_identity(db_path)
        """Which file was opened: a count's second connection must read the same one."""
        self._conn = conn
        self._lock = threading.RLock()
        self._updating = threading.Lock()
        self._reader: tuple[sqlite3.Connection, threading.RLock] | None = None
        """A second connection for long reads (``triage(reader=True)``), opened on first use."""
        self._reader_guard = threading.Lock()

    @classmethod
    def open(
        cls,
        folder: Path | str | MailStore,
        fmt: FolderFormat | None = None,
        *,
        db: Path | None = None,
        in_memory: bool = False,
    ) -> Index:
        """Open the folder read-only and its index (created on first use).

        Raises:
            MailStoreError: the folder cannot be opened.
            IndexStoreError: the index file is unusable (foreign, corrupt, newer, other folder).
        """
        store = folder if isinstance(folder, MailStore) else open_store(folder, fmt)
        resolved = store.path.expanduser().resolve()
        db_path = None if in_memory else (db or default_db_path(store.path)).expanduser()
        if db_path is not None and _inside(db_path, resolved):
            raise IndexStoreError(
                f"{db_path}: the index must not live inside the mail folder (it is never written)"
            )
        created = db_path is not None and not db_path.exists()
        notices: list[str] = []
        try:
            conn = connect(db_path, on_migrate=notices.append)
        except BaseException:
            _forget_new(db_path if created else None)
            raise
        try:
            _bind_folder(conn, db_path, resolved, store.format)
        except BaseException as exc:
            conn.close()
            _forget_new(db_path if created else None)
            if isinstance(exc, sqlite3.Error):
                raise storage_error(db_path, exc) from None
            raise
        return cls(store, conn, db_path, notices)

    # ----------------------------------------------------------------------- updating

    def update(
        self,
        *,
        limits: Limits | None = None,
        cancel: threading.Event | None = None,
        workers: int | None = None,
        trust_stamps: bool = False,
    ) -> Generator[Progress, None, UpdateStats]:
        """Index what changed in the folder; yields progress about every quarter second.

        ``trust_stamps``: the files of a Maildir directory whose stamp is unchanged since the
        last update are not stat'ed (at most for an hour; a file rewritten in place, which
        Maildir forbids, goes unseen until then).

        One update runs at a time: a second one (the TUI starts the next as soon as it has
        cancelled the last) waits for the first to stop before it lists the folder, or both
        would plan the same new messages.
        """
        with self._updating:
            return (
                yield from update(
                    self._conn, self._lock, self.store, limits=limits, cancel=cancel,
                    workers=workers, trust_stamps=trust_stamps,
                )
            )  # fmt: skip

    def has_data(self) -> bool:
        """Whether a scan was stored before, so a UI can show it before updating."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM meta WHERE key = 'updated_at'").fetchone()
        return row is not None

    # ----------------------------------------------------------------------- totals

    def buckets(self) -> dict[str, int]:
        with self._lock:
            return q.buckets(self._conn)

    def message_count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM messages").fetchone()[0])

    # ----------------------------------------------------------------------- reports

    def count_reports(self, flt: ReportFilter | None = None) -> int:
        with self._lock:
            return q.count_reports(self._conn, flt or ReportFilter())

    def reports_page(
        self,
        flt: ReportFilter | None = None,
        *,
        sort: str = "begin",
        descending: bool = True,
        offset: int = 0,
        limit: int = 100,
    ) -> list[ReportRow]:
        with self._lock:
            return q.reports_page(
                self._conn,
                flt or ReportFilter(),
                sort=sort,
                descending=descending,
                offset=offset,
                limit=limit,
            )

    def report(self, report_pk: int) -> ReportDetail:
        with self._lock:
            return q.report_detail(self._conn, report_pk)

    def records_for_source(self, ip: str) -> list[tuple[ReportRow, Record]]:
        with self._lock:
            return q.records_for_source(self._conn, ip)

    def source_totals(self, ip: str) -> tuple[int, int, int]:
        """(records, reports, messages) sent from ``ip`` (an address or a CIDR)."""
        with self._lock:
            return q.source_totals(self._conn, ip)

    def source_records_page(
        self, ip: str, *, offset: int = 0, limit: int = 200
    ) -> list[tuple[ReportRow, Record]]:
        """One page of the records sent from ``ip``, newest report first."""
        with self._lock:
            return q.source_records_page(self._conn, ip, offset=offset, limit=limit)

    def counted_heads(self, until: int | None = None) -> list[tuple[int, str, str, str]]:
        """``(pk, org_name, email, status)`` of each counted report starting before ``until``."""
        with self._lock:
            return q.counted_heads(self._conn, until)

    def counted_reports(
        self, since: int | None = None, until: int | None = None
    ) -> Iterator[AggregateReport]:
        """Distinct reports (a date-range-only collision counted once), in folder order."""
        with self._lock:
            pks = q.counted_pks(self._conn, since, until)
        for pk in pks:
            with self._lock:
                report = q.aggregate_report(self._conn, pk)
            yield report

    def export_aggregate(
        self, flt: ReportFilter | None = None
    ) -> Iterator[tuple[ReportHead, list[RecordRow]]]:
        """Distinct counted reports with their records, streamed (one report in memory)."""
        with self._lock:
            yield from index_export.aggregate_reports(self._conn, flt or ReportFilter())

    def export_failures(
        self, flt: ReportFilter | None = None
    ) -> Iterator[tuple[str, FailureReport]]:
        with self._lock:
            yield from index_export.failure_reports(self._conn, flt or ReportFilter())

    def export_tls(self, flt: ReportFilter | None = None) -> Iterator[tuple[str, TlsReport]]:
        with self._lock:
            yield from index_export.tls_reports(self._conn, flt or ReportFilter())

    def daily_totals(self, source_ip: str | None = None) -> list[tuple[str, int]]:
        with self._lock:
            return q.daily_totals(self._conn, source_ip)

    # ----------------------------------------------------------------------- triage

    def triage(
        self,
        config: Config,
        ptrs: Mapping[str, str | None] | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        progress: TriageProgress | None = None,
        cancelled: Callable[[], bool] | None = None,
        reader: bool = False,
        spill: bool = False,
    ) -> IndexTriage:
        """Findings, readiness and failing days for ``config`` over the period, from SQL
        aggregates and one verdict per distinct combination (see :mod:`dmarctui.index_triage`).

        With ``reader`` (the TUI) the triage, and its evidence queries later, use a connection
        of their own: its longest locked read took 7 s at a million records, and every other
        query of the index (a page of the report list, opening a report) waited behind it.
        An index in memory has no second connection and shares its own. ``spill``: a second
        connection keeps its working tables in temporary files (see :data:`SPILL_RECORDS`).
        """
        conn, lock = self._read_connection() if reader else (self._conn, self._lock)
        path = self.db_path
        return IndexTriage(
            conn, lock, config, ptrs, since=since, until=until, progress=progress,
            cancelled=cancelled,
            connect=None if path is None else lambda: connect_reader(path, self._file, spill),
        )  # fmt: skip

    def prepare_ranking(self, config: Config, progress: TriageProgress | None = None) -> bool:
        """Count the ranking for ``config`` over the whole period and store it, unless a stored
        one serves it: the first ``flagged``, ``readiness`` or TUI after a first scan or a
        config change then reads it instead of counting every record. New reports after a
        stored ranking are left to the first command that asks (it counts only those).
        Returns whether it counted."""
        if ranking_stored(self._conn, self._lock, config):
            return False
        with self._lock:
            records = self._conn.execute("SELECT max(id) FROM records").fetchone()[0] or 0
        spill = self.db_path is not None and records >= SPILL_RECORDS
        if spill:  # no other triage uses this connection: `scan` runs nothing else meanwhile
            with self._lock:
                self._conn.execute("PRAGMA temp_store = FILE")
        try:
            self.triage(config, progress=progress, spill=spill)
        finally:
            if spill:
                with self._lock:
                    self._conn.execute("PRAGMA temp_store = MEMORY")
        return True

    def _read_connection(self) -> tuple[sqlite3.Connection, Any]:
        if self.db_path is None:
            return self._conn, self._lock
        with self._reader_guard:
            if self._reader is None:
                check_same_file(self.db_path, self._file)  # connect() would make a new one
                self._reader = (connect(self.db_path), threading.RLock())
            return self._reader

    def counted_count(self) -> int:
        """Distinct reports that count (a date-range-only collision counts once)."""
        with self._lock:
            return int(
                self._conn.execute("SELECT count(*) FROM reports WHERE counted").fetchone()[0]
            )

    def policy_domains(self) -> list[str]:
        """The distinct policy domains of the counted reports."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT domain FROM reports WHERE counted ORDER BY domain"
            ).fetchall()
        return [d for (d,) in rows]

    def data_version(self) -> str:
        """Changes whenever an update changed what the index holds (for "nothing new" checks)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT (SELECT count(*) FROM messages) || ':' || (SELECT coalesce(max(id), 0)"
                " FROM messages) || ':' || (SELECT coalesce(max(pk), 0) FROM reports)"
            ).fetchone()
        return str(row[0])

    # ----------------------------------------------------------------------- other buckets

    def failures(self) -> list[FoundFailure]:
        with self._lock:
            return q.found_failures(self._conn)

    def tls_reports(self) -> list[FoundTls]:
        with self._lock:
            return q.found_tls(self._conn)

    def duplicates(self) -> list[Duplicate]:
        with self._lock:
            return q.duplicates(self._conn)

    def collisions(self) -> list[Collision]:
        with self._lock:
            return q.collisions(self._conn)

    def errors(self) -> list[Problem]:
        with self._lock:
            return q.issues(self._conn, "error")

    def warnings(self) -> list[Problem]:
        with self._lock:
            return q.issues(self._conn, "warning")

    def not_reports(self) -> list[Problem]:
        with self._lock:
            return q.issues(self._conn, "not_report")

    # ----------------------------------------------------------------------- messages

    def message(self, key: str) -> tuple[MessageRef, MessageSummary]:
        with self._lock:
            return q.message(self._conn, key)

    def raw_message(self, key: str) -> bytes:
        """The message bytes, read again from the folder (raises ``MessageGone`` if gone)."""
        ref, _ = self.message(key)
        if self.store.remote:
            return self.store.read(ref)
        return read_message(self.format, self.folder, ref)

    def report_xml(self, report_pk: int, limits: Limits | None = None) -> bytes:
        """The decompressed XML of one report, extracted again from its message."""
        from dmarctui.payloads import Limits, find_payloads, parse_message

        row = self.report(report_pk).row
        msg = parse_message(self.raw_message(row.message))
        payloads, _ = find_payloads(msg, limits or Limits())
        for payload in payloads:
            if payload.part == row.part:
                return payload.data
        raise MailStoreError(
            f"message {row.message} no longer holds part {row.part}: rescan the folder"
        )

    # ----------------------------------------------------------------------- whole result

    def scan_result(self) -> ScanResult:
        """Everything in the same shape as an in-memory :func:`dmarctui.scan.run_scan`."""
        ledger = Ledger()
        result = ScanResult(self.folder, self.format, ledger)
        with self._lock:
            conn = self._conn
            for key, location, size, mtime, bucket, *summary in conn.execute(
                "SELECT key, location, size, mtime, bucket, subject, sender, date, message_id"
                " FROM messages ORDER BY seq"
            ):
                result.refs[key] = MessageRef(key, location, size, mtime)
                result.summaries[key] = MessageSummary(*summary)
                if bucket is not None:
                    ledger.buckets[bucket] += 1
                    ledger.bucket_of[key] = bucket
            for pk, key, part, filename, content_key, counted in conn.execute(
                "SELECT r.pk, m.key, r.part, r.filename, r.content_key, r.counted"
                " FROM reports r JOIN messages m ON m.id = r.message_id WHERE r.is_first"
                " ORDER BY m.seq, r.pk"
            ).fetchall():
                report = q.aggregate_report(conn, pk)
                ledger.reports.append(FoundReport(key, part, filename, report, content_key))
                if not counted:
                    ledger.uncounted.add(f"{key}#{part}")
            ledger.failures.extend(q.found_failures(conn))
            ledger.tls.extend(q.found_tls(conn))
            ledger.duplicates.extend(q.duplicates(conn))
            ledger.collisions.extend(q.collisions(conn))
            ledger.errors.extend(q.issues(conn, "error"))
            ledger.warnings.extend(q.issues(conn, "warning"))
            ledger.not_reports.extend(q.issues(conn, "not_report"))
            complete = conn.execute("SELECT value FROM meta WHERE key = 'complete'").fetchone()
        result.cancelled = complete is not None and complete[0] != "1"
        return result

    def summary(self) -> ScanSummary:
        """The figures ``scan`` prints, from aggregates (no record is read)."""
        with self._lock:
            return index_summary.summary(self._conn, self.folder, self.format)

    def scan_dict(self) -> dict[str, Any]:
        """``scan --json`` from the index: reports as rows, never their records."""
        with self._lock:
            return index_summary.scan_dict(self._conn, self.folder, self.format)

    # ----------------------------------------------------------------------- PTR cache

    def get(self, ip: str) -> tuple[str | None, float, bool] | None:
        """Cached PTR name of ``ip``, when it was fetched and whether it was forward-confirmed
        (``rdns.PtrStore``)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT ptr, fetched_at, confirmed FROM ptr_cache WHERE ip = ?", (ip,)
            ).fetchone()
        return None if row is None else (row[0], float(row[1]), bool(row[2]))

    def put(self, ip: str, ptr: str | None, fetched_at: float, confirmed: bool = False) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO ptr_cache (ip, ptr, fetched_at, confirmed)"
                " VALUES (?, ?, ?, ?)",
                (ip, ptr, fetched_at, int(confirmed)),
            )

    def ptr_names(self, ips: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Cached PTR names of ``ips``: (forward-confirmed, unconfirmed); never resolves."""
        confirmed: dict[str, str] = {}
        unconfirmed: dict[str, str] = {}
        for ip in dict.fromkeys(ips):
            entry = self.get(ip)
            if entry is not None and entry[0]:
                (confirmed if entry[2] else unconfirmed)[ip] = entry[0]
        return confirmed, unconfirmed

    def close(self) -> None:
        with self._reader_guard:
            if self._reader is not None:
                with self._reader[1]:
                    self._reader[0].close()
        with self._lock:
            self._conn.close()
        self.store.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forget_new(db_path: Path | None) -> None:
    """Remove an index file this run created before failing: no file for a path never opened."""
    if db_path is None:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{db_path}{suffix}").unlink()


def _inside(path: Path, folder: Path) -> bool:
    resolved = path.resolve()
    return resolved == folder or folder in resolved.parents


def _bind_folder(
    conn: sqlite3.Connection, db_path: Path | None, folder: Path, fmt: FolderFormat
) -> None:
    """Tie a new index to its folder; refuse an index that belongs to another folder."""
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('folder', 'format')"))
    if not rows:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            (("folder", str(folder)), ("format", fmt)),
        )
        return
    if rows.get("folder") != str(folder) or rows.get("format") != fmt:
        raise IndexStoreError(
            f"{db_path}: this index belongs to {rows.get('folder')} ({rows.get('format')}),"
            f" not {folder} ({fmt}); choose another file with --db"
        )
