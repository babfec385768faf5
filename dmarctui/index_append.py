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

from dmarctui.index_replay import Replayer, list_rows
from dmarctui.ledger import LEDGER_RULES, Accounts, stored_facts

LEDGER_KEY = "ledger"
"""Meta key holding :func:`ledger_state` as of the last accounting."""

_FIRST_COPY = (
    "SELECT m.key FROM reports r JOIN messages m ON m.id = r.message_id"
    " WHERE r.content_key = ? AND r.is_first"
)
_SAME_ID = (
    "SELECT r.pk, m.key, r.part, r.filename, r.content_key, r.report_id, r.email, r.org_name,"
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
    them, including what earlier new messages added. The verdicts are written as a replay
    writes them (the copies and collision flags of stored reports included); only the lists of
    duplicates, collisions and issues are appended to instead of compared whole.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self._conn = conn
        self._asked: set[tuple[str, str]] = set()

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
                    accounts.resume_content(content_key, first[0])
            if ("report_id", report_id) not in asked:
                asked.add(("report_id", report_id))
                earlier = [
                    stored_facts(facts, pk) for pk, *facts in conn.execute(_SAME_ID, (report_id,))
                ]
                if earlier:
                    accounts.resume_report_id(report_id, earlier)
        for digest in digests:
            if ("digest", digest) not in asked:
                asked.add(("digest", digest))
                first = conn.execute(_FIRST_OTHER, (digest, digest)).fetchone()
                if first is not None:
                    accounts.resume_other(digest, first[0])

    def _store_lists(self, conn: sqlite3.Connection) -> None:
        """Append the new messages' duplicates, collisions and issues to the stored lists."""
        for table, columns, rows in list_rows(self.accounts):
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
