"""Stored triage results: the counts of last time, for an index whose data has not changed, or
brought up to date by counting only the reports added since.

A triage result depends on the index's data, the triage part of the config, the PTR names a
sender may be matched by, the period and this code. Anything but the data is in the key (another
config, other names, another period, another dmarctui version is another result).

For the data, the index keeps (schema 6) a generation that changes in the same transaction as
any change to a report, and a log of the reports deleted or changed in what triage reads. A
result remembers the generation, the highest report and combination ids and the last log entry
of the moment it started counting, and is stored only if the generation is still the same when
it is done (so one counted while an update wrote between its queries is never stored). Then:

- same generation: nothing changed, the result is served as stored;
- no logged change of a report it could have counted (id at most its highest): the reports it
  counted are exactly as they were, and the reports that count now are those plus the ones
  added since, which are counted and added to it (:class:`Delta`);
- otherwise it is counted again.

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
from dataclasses import dataclass

from dmarctui import __version__
from dmarctui.config import Config, matches_by_name

RESULT_FORMAT = 2
"""Bumped whenever what a result holds, or how triage counts, changes (2: no combinations per
finding, evidence classifies the combinations of its source when asked)."""
KEEP = 4
"""Results kept per index (periods, configs and PTR sets in use); the least recently used go.
Each is a few MB on a folder of 10,000 reports with 80,000 distinct combinations."""
PARTS = ("summary", "findings", "failing")
"""The JSON texts of a result: each parsed only when an answer needs it. (The table's
``combo_ids`` column, a part of format 1, is left empty.)"""


@dataclass(frozen=True, slots=True)
class DataState:
    """Where the index's data stands: what a result is counted at."""

    generation: int
    max_pk: int
    """The highest report id: reports added later have higher ones."""
    change_seq: int
    """The last entry of the log of changed and deleted reports."""
    max_combo: int
    """The highest combination id: combinations added later have higher ones."""


@dataclass(frozen=True, slots=True)
class Delta:
    """A stored result that the reports added since it was counted bring up to date."""

    after: int
    """Count the reports with a higher id than this (all others are as the result counted)."""
    max_combo: int
    """Combinations with a higher id are new since."""


def data_state(conn: sqlite3.Connection) -> DataState | None:
    """The index's data state; None for an index without one (nothing served, nothing stored)."""
    try:
        row = conn.execute(
            "SELECT (SELECT n FROM data_generation WHERE id = 1),"
            " (SELECT coalesce(max(pk), 0) FROM reports),"
            " (SELECT coalesce(max(seq), 0) FROM report_changes),"
            " (SELECT coalesce(max(id), 0) FROM combos)"
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None or row[0] is None else DataState(*map(int, row))


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


def serving(
    conn: sqlite3.Connection, key: str, now: DataState | None
) -> tuple[int | None, str] | None:
    """Whether :func:`load` would return a result for ``key``, read without the findings and
    failing days (a few MB on a large folder) and without renewing its age: None when it would
    not; else the id after which reports were added since it was counted and its summary
    text, or ``(None, "")`` when nothing was added (the summary is then not read)."""
    if now is None:
        return None
    row = conn.execute(
        "SELECT generation, max_pk, change_seq,"
        " CASE WHEN generation = ? THEN '' ELSE summary END FROM triage_results WHERE key = ?",
        (now.generation, key),
    ).fetchone()
    if row is None:
        return None
    generation, max_pk, change_seq, summary = row
    if generation == now.generation:
        return None, ""
    return None if _changed_since(conn, max_pk, change_seq) else (max_pk, summary)


def _changed_since(conn: sqlite3.Connection, max_pk: int, change_seq: int) -> bool:
    """Whether a report a result counted (id at most ``max_pk``) changed or went since."""
    changed = conn.execute(
        "SELECT 1 FROM report_changes WHERE seq > ? AND pk <= ? LIMIT 1", (change_seq, max_pk)
    ).fetchone()
    return changed is not None


def load(
    conn: sqlite3.Connection, key: str, now: DataState | None
) -> tuple[dict[str, str], Delta | None] | None:
    """The parts of the result stored under ``key`` and, when the data changed since, the
    :class:`Delta` that brings them up to date; None when there is none or it cannot be used."""
    if now is None:
        return None
    row = conn.execute(
        f"SELECT generation, max_pk, change_seq, max_combo, {', '.join(PARTS)}"
        " FROM triage_results WHERE key = ?",
        (key,),
    ).fetchone()
    if row is None:
        return None
    generation, max_pk, change_seq, max_combo, *texts = row
    delta = None
    if generation != now.generation:
        if _changed_since(conn, max_pk, change_seq):
            return None
        delta = Delta(max_pk, max_combo)
    if not conn.in_transaction:
        # Read-only or busy: the result is still good, only its age is not renewed.
        with contextlib.suppress(sqlite3.OperationalError):
            conn.execute("UPDATE triage_results SET used_at = ? WHERE key = ?", (time.time(), key))
    return dict(zip(PARTS, texts, strict=True)), delta


def save(
    conn: sqlite3.Connection, key: str, counted_at: DataState | None, parts: Mapping[str, str]
) -> bool:
    """Store a result counted at ``counted_at``, unless the data changed since (then it is stale
    already). Returns whether it was stored; a busy or read-only index stores none."""
    if counted_at is None or conn.in_transaction:
        return False
    now = data_state(conn)
    if now is None or now.generation != counted_at.generation:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    try:
        conn.execute(
            "INSERT OR REPLACE INTO triage_results (key, generation, max_pk, change_seq,"
            f" max_combo, used_at, combo_ids, {', '.join(PARTS)}) VALUES (?, ?, ?, ?, ?, ?, ''"
            f"{', ?' * len(PARTS)})",
            (
                key, counted_at.generation, counted_at.max_pk, counted_at.change_seq,
                counted_at.max_combo, time.time(), *(parts[name] for name in PARTS),
            ),
        )  # fmt: skip
        conn.execute(
            "DELETE FROM triage_results WHERE key NOT IN"
            " (SELECT key FROM triage_results ORDER BY used_at DESC LIMIT ?)",
            (KEEP,),
        )
        # The log is read only after the oldest result kept: what precedes it can go.
        conn.execute(
            "DELETE FROM report_changes WHERE seq <= (SELECT min(change_seq) FROM triage_results)"
        )
        conn.execute("COMMIT")
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        return False
    return True
