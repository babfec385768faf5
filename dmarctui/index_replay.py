"""Replay the folder's accounts from the facts stored in the index, reading no message.

Which copy of a report counts, which reports collide and which bucket a message lands in depend
on every message before it. After messages were added, changed or removed, the ledger runs again
over the stored facts (content keys, report ids, emails, records keys, digests, problems) in
folder order; only verdicts that changed are written back.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from dmarctui.ledger import Accounts, MessageFacts, OtherFacts, ReportFacts
from dmarctui.model import Problem


def replay(conn: sqlite3.Connection) -> Accounts:
    """Recompute and store every order-dependent verdict; returns the accounts."""
    # Every report's facts are held at once, so values that repeat from report to report (the
    # reporter, the policy, the day) are kept once: at 100,000 reports that saves ~40 MB.
    share = _sharer()
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
    for table, report_id in (("failures", "''"), ("tls", "report_id")):
        grouped: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(
            f"SELECT message_id, id, digest, {report_id}, is_first FROM {table}"
            " ORDER BY message_id, idx"
        ):
            grouped[row[0]].append(row[1:])
        others[table] = grouped
    problems: dict[int, list[Problem]] = defaultdict(list)
    keys: dict[int, str] = {}
    messages = [
        (id_, key, bucket, share(reason))
        for id_, key, bucket, reason in conn.execute(
            "SELECT id, key, bucket, not_report_reason FROM messages ORDER BY seq"
        )
    ]
    for id_, key, _, _ in messages:
        keys[id_] = key
    for message_id, part, filename, reason in conn.execute(
        "SELECT message_id, part, filename, reason FROM problems ORDER BY id"
    ):
        problems[message_id].append(
            Problem(keys[message_id], share(reason), share(part), share(filename))
        )

    accounts = Accounts()
    first_reports: set[int] = set()
    first_others: set[tuple[str, int]] = set()
    bucket_updates: list[tuple[str, int]] = []
    for id_, key, bucket, not_report_reason in messages:
        rows = reports.get(id_, [])
        facts = MessageFacts(
            key=key,
            reports=tuple(
                ReportFacts(key, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])
                for r in rows
            ),
            failures=tuple(OtherFacts(f[1], f[2]) for f in others["failures"].get(id_, [])),
            tls=tuple(OtherFacts(t[1], t[2]) for t in others["tls"].get(id_, [])),
            problems=tuple(problems.get(id_, [])),
            not_report_reason=not_report_reason,
        )
        verdict = accounts.account(facts)
        first_reports.update(rows[i][0] for i in verdict.reports)
        for table, chosen in (("failures", verdict.failures), ("tls", verdict.tls)):
            group = others[table].get(id_, [])
            first_others.update((table, group[i][0]) for i in chosen)
        if verdict.bucket != bucket:
            bucket_updates.append((verdict.bucket, id_))

    conn.executemany("UPDATE messages SET bucket = ? WHERE id = ?", bucket_updates)
    _store_report_verdicts(conn, reports, keys, first_reports, accounts)
    for table, grouped in others.items():
        changed = [
            (int((table, row[0]) in first_others), row[0])
            for rows in grouped.values()
            for row in rows
            if bool(row[3]) != ((table, row[0]) in first_others)
        ]
        conn.executemany(f"UPDATE {table} SET is_first = ? WHERE id = ?", changed)
    _store_lists(conn, accounts)
    return accounts


def _sharer() -> Callable[[Any], Any]:
    """A function handing back the first equal value it saw, so repeats are stored once."""
    seen: dict[Any, Any] = {}

    def share(value: Any) -> Any:
        return seen.setdefault(value, value)

    return share


def _store_report_verdicts(
    conn: sqlite3.Connection,
    reports: dict[int, list[tuple[Any, ...]]],
    keys: dict[int, str],
    first: set[int],
    accounts: Accounts,
) -> None:
    copies = Counter(row[3] for rows in reports.values() for row in rows)
    in_collision = {c.first for c in accounts.collisions} | {c.second for c in accounts.collisions}
    updates = []
    for message_id, rows in reports.items():
        for row in rows:
            pk, part = row[0], row[1]
            ref = f"{keys[message_id]}#{part}"
            is_first = pk in first
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


def _store_lists(conn: sqlite3.Connection, accounts: Accounts) -> None:
    """Rewrite the duplicate, collision and issue lists when they differ from the stored ones."""
    lists: list[tuple[str, str, list[tuple[Any, ...]]]] = [
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
    for table, columns, wanted in lists:
        stored = conn.execute(f"SELECT {columns} FROM {table} ORDER BY id").fetchall()
        if stored == wanted:
            continue
        conn.execute(f"DELETE FROM {table}")
        if wanted:
            marks = ", ".join("?" * len(wanted[0]))
            conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", wanted)
