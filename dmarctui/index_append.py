"""Continue the ledger after the indexed messages when new mail only arrived after them.

The usual change to a folder is new mail delivered after everything already indexed. The
verdicts of the messages before it do not depend on it, so instead of replaying the ledger over
the whole folder (:func:`dmarctui.index_replay.replay`), the ledger goes on from what the index
stores: for each content key, report id and digest of a new message it looks up the first copy
and the earlier reports with that id, decides the new messages with the same rules, and writes
their verdicts, the copies of first copies they duplicate, the collision flags of the reports
they collide with, and the list rows they add. Work grows with the new messages, not the folder.

Whether the stored verdicts can be continued at all is told by :func:`ledger_state`: the rules,
the number of messages and the highest message id they were computed over, stored in ``meta``
when the accounting ends. Anything else (a message gone or changed, one inserted before others,
an update that was killed before its accounting, an index accounted by an older dmarctui) is
replayed in full, which stays the reference.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from dmarctui.index_replay import Replayer, list_rows, store_report_verdicts
from dmarctui.ledger import LEDGER_RULES, Accounts, ReportFacts

LEDGER_KEY = "ledger"
"""Meta key holding :func:`ledger_state` as of the last accounting."""

_FIRST_COPY = (
    "SELECT r.pk, m.key FROM reports r JOIN messages m ON m.id = r.message_id"
    " WHERE r.content_key = ? AND r.is_first"
)
_SAME_ID = (
    "SELECT m.id, m.key, r.part, r.filename, r.content_key, r.report_id, r.email, r.org_name,"
    " r.begin, r.end, r.records_key, r.policy_key FROM reports r"
    " JOIN messages m ON m.id = r.message_id WHERE r.report_id = ? AND r.is_first"
    " ORDER BY m.seq, r.pk"
)
_FIRST_OTHER = (
    "SELECT m.key FROM failures f JOIN messages m ON m.id = f.message_id"
    " WHERE f.digest = ? AND f.is_first"
    " UNION ALL SELECT m.key FROM tls t JOIN messages m ON m.id = t.message_id"
    " WHERE t.digest = ? AND t.is_first"
)


def ledger_state(conn: sqlite3.Connection) -> str:
    """What the stored verdicts must have been computed over to be continued."""
    count, highest = conn.execute("SELECT count(*), max(id) FROM messages").fetchone()
    return f"{LEDGER_RULES} {count} {highest}"


def stored_ledger_state(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (LEDGER_KEY,)).fetchone()
    return None if row is None else str(row[0])


class Appender(Replayer):
    """The ledger continued after the indexed messages, fed the new ones in folder order.

    Before a message is accounted, what the index holds about its content keys, report ids and
    digests is looked up once each (an indexed query); from then on the ledger in memory knows
    them, including what earlier new messages added.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self._conn = conn
        self._asked: set[tuple[str, str]] = set()
        self._stored_first: dict[str, int] = {}
        """Content key -> pk of its first copy among the stored reports."""
        self._stored_refs: dict[str, tuple[int, str]] = {}
        """``message#part`` -> (message id, part) of stored reports that new ones may collide
        with."""

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
        self._look_up(reports, [row[1] for row in (*failures, *tls)])
        super().message(id_, key, bucket, not_report_reason, reports, failures, tls, problems)

    def _look_up(self, reports: list[tuple[Any, ...]], digests: list[str]) -> None:
        accounts: Accounts = self.accounts
        asked = self._asked
        conn = self._conn
        for row in reports:
            content_key, report_id = row[3], row[4]
            if ("content", content_key) not in asked:
                asked.add(("content", content_key))
                first = conn.execute(_FIRST_COPY, (content_key,)).fetchone()
                if first is not None:
                    self._stored_first[content_key] = first[0]
                    accounts.resume_content(content_key, first[1])
            if ("report_id", report_id) not in asked:
                asked.add(("report_id", report_id))
                earlier = []
                for message_id, *facts in conn.execute(_SAME_ID, (report_id,)):
                    found = ReportFacts(*facts)
                    earlier.append(found)
                    self._stored_refs[f"{found.message}#{found.part}"] = (message_id, found.part)
                if earlier:
                    accounts.resume_report_id(report_id, earlier)
        for digest in digests:
            if ("digest", digest) not in asked:
                asked.add(("digest", digest))
                first = conn.execute(_FIRST_OTHER, (digest, digest)).fetchone()
                if first is not None:
                    accounts.resume_other(digest, first[0])

    def store(self, conn: sqlite3.Connection) -> Accounts:
        """Write the new messages' verdicts and the stored ones they changed; append the lists."""
        accounts = self.accounts
        conn.executemany("UPDATE messages SET bucket = ? WHERE id = ?", self.bucket_updates)
        touched = {row[3] for rows in self.reports.values() for row in rows}
        copies = {
            key: conn.execute(
                "SELECT count(*) FROM reports WHERE content_key = ?", (key,)
            ).fetchone()[0]
            for key in touched
        }
        store_report_verdicts(conn, self, copies)
        conn.executemany(
            "UPDATE reports SET copies = ? WHERE pk = ? AND copies != ?",
            [(copies[key] - 1, pk, copies[key] - 1) for key, pk in self._stored_first.items()],
        )
        refs = {c.first for c in accounts.collisions} | {c.second for c in accounts.collisions}
        conn.executemany(
            "UPDATE reports SET collision = 1 WHERE message_id = ? AND part = ? AND NOT collision",
            [self._stored_refs[ref] for ref in refs if ref in self._stored_refs],
        )
        self.store_others(conn)
        for table, columns, rows in list_rows(accounts):
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        return accounts
