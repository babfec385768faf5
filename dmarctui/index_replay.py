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
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dmarctui.index_rows import FAILURE_COLUMNS, REPORT_COLUMNS, TLS_COLUMNS, MessageRows
from dmarctui.ledger import Accounts, MessageFacts, OtherFacts, ReportFacts
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


def replay(conn: sqlite3.Connection) -> Accounts:
    """Recompute and store every order-dependent verdict; returns the accounts."""
    # Every report's facts are held at once, so values that repeat from report to report (the
    # reporter, the policy, the day) are kept once: at 100,000 reports that saves ~40 MB.
    replayer = Replayer()
    share = replayer.share
    reports: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for (message_id, pk, part, filename, content_key, report_id, email, org_name, begin, end,
         records_key, policy_key, *verdict) in conn.execute(
        "SELECT message_id, pk, part, filename, content_key, report_id, email, org_name, begin,"
        " end, records_key, policy_key, is_first, counted, copies, collision"
        " FROM reports ORDER BY message_id, pk"
    ):  # fmt: skip
        reports[message_id].append((
            pk, share(part), filename, content_key, report_id, share(email), share(org_name),
            share(begin), share(end), records_key, share(policy_key), *verdict,
        ))  # fmt: skip
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
    for id_, key, bucket, reason in conn.execute(
        "SELECT id, key, bucket, not_report_reason FROM messages ORDER BY seq"
    ).fetchall():
        replayer.message(
            id_,
            key,
            bucket,
            reason,
            reports.pop(id_, []),
            others["failures"].pop(id_, []),
            others["tls"].pop(id_, []),
            problems.pop(id_, []),
        )
    return replayer.store(conn)


class Replayer:
    """The ledger fed message by message in folder order, then the changed verdicts stored.

    ``message`` takes what the index holds about one message: its report rows (pk, part,
    filename, content key, report id, email, org name, begin, end, records key, policy key and
    the stored is_first, counted, copies, collision), its failure and TLS rows (id, digest,
    report id, stored is_first) and its problems (part, filename, reason).
    """

    def __init__(self) -> None:
        self.share = _sharer()
        self.accounts = Accounts()
        self.reports: dict[int, list[tuple[Any, ...]]] = {}
        self.others: dict[str, dict[int, list[tuple[Any, ...]]]] = {t: {} for t in _OTHER_TABLES}
        self.keys: dict[int, str] = {}
        self.first_reports: set[int] = set()
        self.first_others: set[tuple[str, int]] = set()
        self.bucket_updates: list[tuple[str, int]] = []

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
        self.keys[id_] = key
        if reports:
            self.reports[id_] = reports
        for table, group in (("failures", failures), ("tls", tls)):
            if group:
                self.others[table][id_] = group
        facts = MessageFacts(
            key=key,
            reports=tuple(
                ReportFacts(key, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])
                for r in reports
            ),
            failures=tuple(OtherFacts(f[1], f[2]) for f in failures),
            tls=tuple(OtherFacts(t[1], t[2]) for t in tls),
            problems=tuple(
                Problem(key, share(reason), share(part), share(filename))
                for part, filename, reason in problems
            ),
            not_report_reason=share(not_report_reason),
        )
        verdict = self.accounts.account(facts)
        self.first_reports.update(reports[i][0] for i in verdict.reports)
        for table, group, chosen in (
            ("failures", failures, verdict.failures),
            ("tls", tls, verdict.tls),
        ):
            self.first_others.update((table, group[i][0]) for i in chosen)
        if verdict.bucket != bucket:
            self.bucket_updates.append((verdict.bucket, id_))

    def written(
        self,
        message_id: int,
        rows: MessageRows,
        report_pks: Sequence[int],
        failure_ids: Sequence[int],
        tls_ids: Sequence[int],
    ) -> None:
        """Account a message just inserted as new rows (their verdict columns at the defaults)."""
        share = self.share
        part, filename, content_key, report_id, email, org, begin, end, records, policy = (
            _FACT_COLUMNS
        )
        reports = [  # part names differ from report to report: not worth sharing
            (pk, row[part], row[filename], row[content_key], row[report_id],
             share(row[email]), share(row[org]), share(row[begin]), share(row[end]),
             row[records], share(row[policy]), 0, 0, 0, 0)
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
        conn.executemany("UPDATE messages SET bucket = ? WHERE id = ?", self.bucket_updates)
        copies = Counter(row[3] for rows in self.reports.values() for row in rows)
        store_report_verdicts(conn, self, copies)
        self.store_others(conn)
        _store_lists(conn, self.accounts)
        return self.accounts

    def store_others(self, conn: sqlite3.Connection) -> None:
        """Write the failure and TLS reports' ``is_first`` where it changed."""
        for table, grouped in self.others.items():
            changed = [
                (int((table, row[0]) in self.first_others), row[0])
                for rows in grouped.values()
                for row in rows
                if bool(row[3]) != ((table, row[0]) in self.first_others)
            ]
            conn.executemany(f"UPDATE {table} SET is_first = ? WHERE id = ?", changed)


def _sharer() -> Callable[[Any], Any]:
    """A function handing back the first equal value it saw, so repeats are stored once."""
    seen: dict[Any, Any] = {}

    def share(value: Any) -> Any:
        return seen.setdefault(value, value)

    return share


def store_report_verdicts(
    conn: sqlite3.Connection, replayer: Replayer, copies: Mapping[str, int]
) -> None:
    """Write the verdicts of the reports ``replayer`` accounted, where they changed.

    ``copies`` holds how many report rows of the index have each content key.
    """
    accounts = replayer.accounts
    in_collision = {c.first for c in accounts.collisions} | {c.second for c in accounts.collisions}
    updates = []
    for message_id, rows in replayer.reports.items():
        for row in rows:
            pk, part = row[0], row[1]
            ref = f"{replayer.keys[message_id]}#{part}"
            is_first = pk in replayer.first_reports
            verdict = (
                int(is_first),
                int(is_first and ref not in accounts.uncounted),
                copies[row[3]] - 1 if is_first else 0,
                int(ref in in_collision),
            )
            if verdict != tuple(row[11:15]):
                updates.append((*verdict, pk))
    conn.executemany(
        "UPDATE reports SET is_first = ?, counted = ?, copies = ?, collision = ? WHERE pk = ?",
        updates,
    )


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
