"""Replay the folder's accounts from the facts stored in the index, reading no message.

Which copy of a report counts, which reports collide and which bucket a message lands in depend
on every message before it. After messages were changed or removed, or added before others
(new mail after the rest continues the stored ledger: :mod:`dmarctui.index_append`), the ledger
runs again over the stored facts (content keys, report ids, emails, records keys, digests,
problems) in folder order; only verdicts that changed are written back. A first build feeds the
same ledger as it writes each message (:class:`Replayer`), so nothing has to be read back at the
end.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from dmarctui.index_rows import FAILURE_COLUMNS, REPORT_COLUMNS, TLS_COLUMNS, MessageRows
from dmarctui.ledger import Accounts, MessageFacts, OtherFacts, ReportFacts, stored_facts
from dmarctui.model import Problem

_OTHER_TABLES = ("failures", "tls")
_FACT_COLUMNS = tuple(
    REPORT_COLUMNS.index(name)
    for name in ("part", "filename", "content_key", "report_id", "email", "org_name", "begin",
                 "end", "records_key", "policy_key")
)  # fmt: skip
"""Where a report row (as :func:`message_rows` builds it) holds the facts the ledger reads."""
_FAILURE_DIGEST = FAILURE_COLUMNS.index("digest")
_TLS_DIGEST, _TLS_REPORT_ID = TLS_COLUMNS.index("digest"), TLS_COLUMNS.index("report_id")


_STREAM = (
    "SELECT m.id, m.key, m.bucket, m.not_report_reason, r.pk, r.part, r.filename, r.content_key,"
    " r.report_id, r.email, r.org_name, r.begin, r.end, r.records_key, r.policy_key, r.is_first,"
    " r.counted, r.copies, r.collision FROM messages m LEFT JOIN reports r ON r.message_id = m.id"
    " ORDER BY m.seq, r.pk"
)


def replay(conn: sqlite3.Connection) -> Accounts:
    """Recompute and store every order-dependent verdict; returns the accounts."""
    # Messages and their reports are streamed in folder order, one message at a time: holding
    # every report's row first took ~1 KB per report. Failure and TLS reports and problems are
    # few and read at once.
    replayer = Replayer(conn)
    others: dict[str, dict[int, list[tuple[Any, ...]]]] = {}
    for table, report_id in zip(_OTHER_TABLES, ("''", "report_id"), strict=True):
        grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(
            f"SELECT message_id, id, digest, {report_id}, is_first FROM {table}"
            " ORDER BY message_id, idx"
        ):
            grouped[row[0]].append(row[1:])
        others[table] = grouped
    problems: dict[int, list[tuple[str | None, str | None, str]]] = defaultdict(list)
    for message_id, part, filename, reason in conn.execute(
        "SELECT message_id, part, filename, reason FROM problems ORDER BY id"
    ):
        problems[message_id].append((part, filename, reason))
    current: tuple[Any, ...] | None = None
    reports: list[tuple[Any, ...]] = []

    def flush() -> None:
        if current is not None:
            id_, key, bucket, reason = current
            replayer.message(
                id_, key, bucket, reason, reports,
                others["failures"].pop(id_, []), others["tls"].pop(id_, []),
                problems.pop(id_, []),
            )  # fmt: skip

    for id_, key, bucket, reason, pk, *report in conn.execute(_STREAM):
        if current is None or current[0] != id_:
            flush()
            current, reports = (id_, key, bucket, reason), []
        if pk is not None:
            reports.append((pk, *report))
    flush()
    return replayer.store(conn)


class StoredAccounts(Accounts):
    """:class:`Accounts` over an index: a first copy is kept under its report id as its row's
    key (an int, not eleven fields), read back when a later report has the same id, and each
    collision is noted by the keys of its two rows."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self._conn = conn
        self.collided: set[int] = set()
        """Rows of reports in a collision."""

    def _keep(self, found: ReportFacts) -> object:
        assert found.pk is not None
        return found.pk

    def _recall(self, kept: object) -> ReportFacts:
        assert isinstance(kept, int)
        row = self._conn.execute(_FACTS_OF_ROW, (kept,)).fetchone()
        return stored_facts(row, kept)

    def _collided(self, earlier: ReportFacts, later: ReportFacts) -> None:
        assert earlier.pk is not None and later.pk is not None
        self.collided.update((earlier.pk, later.pk))


_FACTS_OF_ROW = (
    "SELECT m.key, r.part, r.filename, r.content_key, r.report_id, r.email, r.org_name, r.begin,"
    " r.end, r.records_key, r.policy_key FROM reports r JOIN messages m ON m.id = r.message_id"
    " WHERE r.pk = ?"
)


class Replayer:
    """The ledger fed message by message in folder order, then the changed verdicts stored.

    ``message`` takes what the index holds about one message: its report rows (pk, part,
    filename, content key, report id, email, org name, begin, end, records key, policy key and
    the stored is_first, counted, copies, collision), its failure and TLS rows (id, digest,
    report id, stored is_first) and its problems (part, filename, reason).

    Nothing of a message is kept once it is accounted but the verdicts that differ from the
    stored ones, as arrays of row keys (8 bytes each): a first build of 100,000 messages kept
    every row's facts until the end, ~1 KB per report. What later messages change of earlier
    verdicts (copies, collision flags) is written from what is noted on the way.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.share = _sharer()
        self.accounts = StoredAccounts(conn)
        self._report_verdicts: dict[tuple[int, int], array[int]] = {}
        """(is_first, counted) -> rows of reports whose stored pair differs."""
        self._other_firsts: dict[tuple[str, int], array[int]] = {}
        """(table, is_first) -> rows of failure or TLS reports whose stored flag differs."""
        self._buckets: dict[str, array[int]] = {}
        """Bucket -> messages whose stored bucket differs."""
        self._copied: set[str] = set()
        """Content keys whose first copy's ``copies`` may change: a duplicate was accounted,
        or a stored row said there were copies."""
        self._stored_collision: set[int] = set()
        """Rows stored with the collision flag set."""

    def message(
        self,
        id_: int,
        key: str,
        bucket: str | None,
        not_report_reason: str | None,
        reports: list[tuple[Any, ...]],
        failures: list[tuple[Any, ...]],
        tls: list[tuple[Any, ...]],
        problems: Sequence[tuple[str | None, str | None, str]],
    ) -> None:
        """Account one message; messages must come in folder order."""
        share = self.share
        facts = MessageFacts(
            key=key,
            reports=tuple(stored_facts((key, *r[1:11]), r[0]) for r in reports),
            failures=tuple(OtherFacts(f[1], f[2]) for f in failures),
            tls=tuple(OtherFacts(t[1], t[2]) for t in tls),
            problems=tuple(
                Problem(key, share(reason), share(part), share(filename))
                for part, filename, reason in problems
            ),
            not_report_reason=share(not_report_reason),
        )
        accounts = self.accounts
        verdict = accounts.account(facts)
        # A report is counted unless it was merged into an earlier one, which is decided as it
        # is accounted: its (is_first, counted) pair is final now.
        chosen = set(verdict.reports)
        for i, row in enumerate(reports):
            first = i in chosen
            pair = (int(first), int(first and f"{key}#{row[1]}" not in accounts.uncounted))
            if pair != (row[11], row[12]):
                _note(self._report_verdicts, pair, row[0])
            if not first or row[13]:
                self._copied.add(row[3])
            if row[14]:
                self._stored_collision.add(row[0])
        for table, group, picked in (
            ("failures", failures, verdict.failures),
            ("tls", tls, verdict.tls),
        ):
            firsts = set(picked)
            for i, row in enumerate(group):
                if (i in firsts) != bool(row[3]):
                    _note(self._other_firsts, (table, int(i in firsts)), row[0])
        if verdict.bucket != bucket:
            _note(self._buckets, verdict.bucket, id_)

    def written(
        self,
        message_id: int,
        rows: MessageRows,
        report_pks: Sequence[int],
        failure_ids: Sequence[int],
        tls_ids: Sequence[int],
    ) -> None:
        """Account a message just inserted as new rows (their verdict columns at the defaults)."""
        part, filename, content_key, report_id, email, org, begin, end, records, policy = (
            _FACT_COLUMNS
        )
        reports = [
            (pk, row[part], row[filename], row[content_key], row[report_id], row[email],
             row[org], row[begin], row[end], row[records], row[policy], 0, 0, 0, 0)
            for pk, (row, _) in zip(report_pks, rows.reports, strict=True)
        ]  # fmt: skip
        failures = [
            (id_, row[_FAILURE_DIGEST], "", 0)
            for id_, row in zip(failure_ids, rows.failures, strict=True)
        ]
        tls = [
            (id_, row[_TLS_DIGEST], row[_TLS_REPORT_ID], 0)
            for id_, row in zip(tls_ids, rows.tls, strict=True)
        ]
        self.message(
            message_id, rows.key, None, rows.not_report_reason, reports, failures, tls,
            rows.problems,
        )  # fmt: skip

    def store(self, conn: sqlite3.Connection) -> Accounts:
        """Write the verdicts that differ from the stored ones; returns the accounts."""
        conn.executemany(
            "UPDATE messages SET bucket = ? WHERE id = ?",
            ((bucket, id_) for bucket, ids in self._buckets.items() for id_ in ids),
        )
        conn.executemany(
            "UPDATE reports SET is_first = ?, counted = ? WHERE pk = ?",
            ((*pair, pk) for pair, pks in self._report_verdicts.items() for pk in pks),
        )
        for (table, first), ids in self._other_firsts.items():
            conn.executemany(
                f"UPDATE {table} SET is_first = ? WHERE id = ?", ((first, id_) for id_ in ids)
            )
        self._store_copies(conn)
        collided = self.accounts.collided
        conn.executemany(
            "UPDATE reports SET collision = 0 WHERE pk = ?",
            ((pk,) for pk in self._stored_collision - collided),
        )
        conn.executemany(
            "UPDATE reports SET collision = 1 WHERE pk = ? AND NOT collision",
            ((pk,) for pk in collided - self._stored_collision),
        )
        self._store_lists(conn)
        return self.accounts

    def _store_copies(self, conn: sqlite3.Connection) -> None:
        """Set ``copies`` (the other rows with its content key) on each first copy, 0 on the
        rest, for the content keys that may have changed; is_first must be written first."""
        for content_key in sorted(self._copied):
            (rows,) = conn.execute(
                "SELECT count(*) FROM reports WHERE content_key = ?", (content_key,)
            ).fetchone()
            conn.execute(
                "UPDATE reports SET copies = CASE WHEN is_first THEN ? ELSE 0 END"
                " WHERE content_key = ? AND copies != CASE WHEN is_first THEN ? ELSE 0 END",
                (rows - 1, content_key, rows - 1),
            )

    def _store_lists(self, conn: sqlite3.Connection) -> None:
        _store_lists(conn, self.accounts)


def _note(notes: dict[Any, array[int]], what: Any, row: int) -> None:
    found = notes.get(what)
    if found is None:
        found = notes[what] = array("q")
    found.append(row)


def _sharer() -> Callable[[Any], Any]:
    """A function handing back the first equal value it saw, so repeats are stored once."""
    seen: dict[Any, Any] = {}

    def share(value: Any) -> Any:
        return seen.setdefault(value, value)

    return share


def list_rows(accounts: Accounts) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    """(table, columns, rows) of the duplicate, collision and issue lists, as stored."""
    return [
        ("duplicates", "message, duplicate_of, why, report_id",
         [(d.message, d.duplicate_of, d.why, d.report_id) for d in accounts.duplicates]),
        ("collisions", "report_id, first, second, reason, detail, counted_once",
         [(c.report_id, c.first, c.second, c.reason, c.detail, int(c.counted_once))
          for c in accounts.collisions]),
        ("issues", "kind, message, reason, part, filename",
         [(kind, p.message, p.reason, p.part, p.filename)
          for kind, problems in (("error", accounts.errors), ("warning", accounts.warnings),
                                 ("not_report", accounts.not_reports))
          for p in problems]),
    ]  # fmt: skip


def _store_lists(conn: sqlite3.Connection, accounts: Accounts) -> None:
    """Rewrite the duplicate, collision and issue lists when they differ from the stored ones."""
    for table, columns, wanted in list_rows(accounts):
        stored = conn.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
        if stored == wanted:
            continue
        conn.execute(f"DELETE FROM {table}")
        if wanted:
            marks = ", ".join("?" * len(wanted[0]))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", wanted)
