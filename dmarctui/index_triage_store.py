"""Stored triage results: the counts of last time, for an index whose data has not changed.

A triage result depends on the index's data, the triage part of the config, the PTR names a
sender may be matched by, the period and this code. The index's ``data_generation`` changes in
the same transaction as any change to a report (schema 5), so a result stored with the
generation it was counted at is served only while nothing it read can have changed; a result
counted while an update wrote between its queries is stored with a generation that is already
gone, so it is never served. Anything else (another config, other names, another period, another
dmarctui version) is another key.

What is stored is the counts (per finding, per readiness column and day, per failing source and
day), not the findings: contacts, PTR names shown and the ranking are applied when asked, as
for a result just counted. The text is JSON (escaped to ASCII, so any text of a mail survives).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping

from dmarctui import __version__
from dmarctui.config import Config, matches_by_name

RESULT_FORMAT = 1
"""Bumped whenever what a result holds, or how triage counts, changes."""
KEEP = 4
"""Results kept per index (periods, configs and PTR sets in use); the least recently used go.
Each is a few MB on a folder of 10,000 reports with 80,000 distinct combinations."""


def generation(conn: sqlite3.Connection) -> int | None:
    """The index's data generation; None for an index without one (never served, never
    stored)."""
    try:
        row = conn.execute("SELECT n FROM data_generation WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else int(row[0])


def result_key(
    config: Config,
    ptrs: Mapping[str, str | None],
    since: int | None,
    until: int | None,
) -> str:
    """What a result depends on besides the data: the config fields triage reads, the PTR names
    (only when a sender is matched by name: otherwise no verdict reads them), the period."""
    senders = (*config.senders, *config.decided_senders)
    names = (
        sorted((ip, name) for ip, name in ptrs.items() if name)
        if any(matches_by_name(s.match) for s in senders)
        else []
    )
    parts = (
        RESULT_FORMAT,
        __version__,
        repr(config.own_domains),
        config.include_subdomains,
        repr(config.internal),
        repr(config.decided_internal),
        repr(config.senders),
        repr(config.decided_senders),
        names,
        since,
        until,
    )
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


PARTS = ("summary", "findings", "failing", "combo_ids")
"""The JSON texts of a result: each parsed only when an answer needs it."""


def load(conn: sqlite3.Connection, key: str, current: int | None) -> dict[str, str] | None:
    """The parts of the result stored under ``key`` at generation ``current``, or None."""
    if current is None:
        return None
    row = conn.execute(
        f"SELECT {', '.join(PARTS)} FROM triage_results WHERE key = ? AND generation = ?",
        (key, current),
    ).fetchone()
    if row is None:
        return None
    if not conn.in_transaction:
        # Read-only or busy: the result is still good, only its age is not renewed.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("UPDATE triage_results SET used_at = ? WHERE key = ?", (time.time(), key))
    return dict(zip(PARTS, row, strict=True))


def save(
    conn: sqlite3.Connection, key: str, counted_at: int | None, parts: Mapping[str, str]
) -> bool:
    """Store a result counted at generation ``counted_at``, unless the data changed since (then
    it is stale already). Returns whether it was stored; a busy or read-only index stores none.
    """
    if counted_at is None or conn.in_transaction or generation(conn) != counted_at:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    try:
        conn.execute("DELETE FROM triage_results WHERE generation != ?", (counted_at,))
        conn.execute(
            f"INSERT OR REPLACE INTO triage_results (key, generation, used_at, {', '.join(PARTS)})"
            f" VALUES (?, ?, ?{', ?' * len(PARTS)})",
            (key, counted_at, time.time(), *(parts[name] for name in PARTS)),
        )
        conn.execute(
            "DELETE FROM triage_results WHERE key NOT IN"
            " (SELECT key FROM triage_results ORDER BY used_at DESC LIMIT ?)",
            (KEEP,),
        )
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        return False
    return True
