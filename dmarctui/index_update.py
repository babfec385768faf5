"""Bring the index up to date with the folder, reading only new or changed messages.

Listing the folder is cheap (Maildir and MH: directory listing and stat; mbox: size and mtime,
then only the bytes appended after the last indexed message). Messages to read are parsed in a
process pool; the parent is the only writer. Afterwards the order-dependent accounting
(duplicates, collisions, buckets) is brought up to date from the stored per-message facts, so
the index always equals a fresh full scan without reading any body again: new mail after every
indexed message continues the stored ledger (:mod:`dmarctui.index_append`), any other change
replays it over the whole folder (:mod:`dmarctui.index_replay`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dmarctui.index_append import LEDGER_KEY, Appender, ledger_state, stored_ledger_state
from dmarctui.index_replay import Replayer, replay
from dmarctui.index_rows import (
    FAILURE_COLUMNS,
    RECORD_COLUMNS,
    RECORD_OWN_COLUMNS,
    REPORT_COLUMNS,
    TLS_COLUMNS,
    MessageRows,
    message_rows,
)
from dmarctui.index_schema import (
    COMBO_COLUMNS,
    DEFERRED_KEY,
    SOURCE_COMBOS,
    combo_digest,
    ip_key,
    restore_deferred_indexes,
)
from dmarctui.mailstore import (
    Listed,
    MaildirStore,
    MailStore,
    MailStoreError,
    MboxStore,
    MessageGone,
)
from dmarctui.model import FolderFormat, MessageRef
from dmarctui.scan import PARALLEL_FROM, PROGRESS_EVERY, Progress
from dmarctui.source_address import canonical_address

if TYPE_CHECKING:  # the parser and the worker pool are imported when a message is parsed
    from dmarctui.payloads import Limits

BATCH = 32
"""Messages per job sent to a worker process, at most."""
BATCH_BYTES = 128 * 1024
"""Bytes of messages per job, at most (a single larger message makes a job of its own). A job's
rows travel back as one object and wait in the parent with a few others, so jobs are bounded by
what grows with the records, not by the count of messages alone: 32 messages of 200 records each
held five times as much as 32 of the usual 20."""
IN_FLIGHT = 12
"""Jobs per worker sent ahead of the writer. The writer stores what arrived in bursts, a
transaction every quarter of a second, and takes no result meanwhile: with three jobs per
worker the workers ran dry during each burst and waited a third of the scan (a cold scan of
10,000 messages took 6.3 s instead of 5.6-5.9 s). Twelve cover a burst; finished jobs wait in
the parent, about 20 MB more of it at 25 or 200 records a report."""
WRITE_CACHE_KIB = 32768
"""SQLite page cache while rows are added to an index that has reports: its secondary indexes
are filled in random order, and with the default 2 MiB cache that took twice as long."""
BULK_CACHE_KIB = 8192
"""The page cache of a first build, which makes its indexes after the rows: more made no
difference to its speed, only to its memory."""
BULK_FROM = 1000
"""A first build of at least this many messages creates the reports' and records' secondary
indexes once the rows are in, not row by row (a third of the writer's SQLite time)."""
WINDOW_HEAD = 4096
WINDOW_TAIL = 65536
"""Bytes of an mbox hashed to tell "appended to" from "rewritten"."""


@dataclass
class UpdateStats:
    """What an update found and did; ``bodies_read`` is 0 when nothing changed."""

    new: int = 0
    changed: int = 0
    gone: int = 0
    unchanged: int = 0
    moved: int = 0
    """Unchanged messages found under another name (Maildir ``new/`` to ``cur/``)."""
    bodies_read: int = 0
    """Messages whose bytes were read and parsed."""
    bytes_read: int = 0
    """Bytes of the folder read, including an mbox's appended part and its check window."""
    rewritten: bool = False
    """The mbox was not only appended to: it was listed again from the start."""
    cancelled: bool = False
    elapsed: float = 0.0
    gone_keys: list[str] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return self.new + self.changed + self.unchanged


_Stored = tuple[str, int, str, int, float, int]
"""A stored message as its row: key, id, location, size, mtime, seq. Plain tuples, not named
ones: building 100,000 named tuples costs a tenth of a second of a warm rescan."""


@dataclass
class _Plan:
    to_read: list[tuple[int, MessageRef]] = field(default_factory=list)
    """(seq, ref) of messages to parse, in folder order."""
    delete: list[int] = field(default_factory=list)
    relocate: list[tuple[str, int, int]] = field(default_factory=list)
    """(location, seq, id) of unchanged messages found elsewhere or at another position."""
    mbox_state: tuple[int, float] | None = None
    """(size, mtime) of an mbox as listed, stored with its window once fully indexed."""
    appended: bool = False
    """Nothing changed or went, and every message to read comes after every stored one in
    folder order: the ledger can go on from the stored verdicts."""
    stamps: dict[str, Any] | None = None
    """A Maildir's directory stamps taken before it was listed, stored once it is indexed."""


def update(
    conn: sqlite3.Connection,
    lock: AbstractContextManager[object],
    store: MailStore,
    *,
    limits: Limits | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    trust_stamps: bool = False,
) -> Generator[Progress, None, UpdateStats]:
    """Index new and changed messages of ``store`` and drop gone ones; yields progress.

    ``trust_stamps``: a Maildir directory whose stamp did not change since the last update
    listed it has the same files, and they are not stat'ed again (see :func:`_trusted`).
    """
    started = time.monotonic()
    stats = UpdateStats()
    with lock:
        # Messages forgotten here are still in their directories: list them all.
        forgot = _forget_bad_sources(conn) | _forget_uncanonical_sources(conn)
        trust_stamps = not forgot and trust_stamps
        first = conn.execute("SELECT 1 FROM messages LIMIT 1").fetchone() is None
        # The stored verdicts are those of the stored messages, under today's rules (an update
        # killed before its accounting, or an older dmarctui, leaves them otherwise).
        accounted = stored_ledger_state(conn) == ledger_state(conn)
    plan = _plan(conn, lock, store, stats, trust_stamps)
    total = stats.unchanged + len(plan.to_read)
    if workers is None:
        workers = (os.cpu_count() or 1) if len(plan.to_read) >= PARALLEL_FROM else 1
    bulk = len(plan.to_read) >= BULK_FROM and _no_reports(conn, lock)
    # From an empty index the rows are written in folder order, the order the replay reads them
    # back in: the ledger then runs as they are written, not over all of them at the end. New
    # mail after every stored message continues the stored ledger as it is written (a bulk
    # write has dropped the indexes that would look its facts up, and there is little to replay).
    replayer: Replayer | None = None
    if first:
        replayer = Replayer(conn)
    elif accounted and plan.appended and not bulk:
        replayer = Appender(conn)
    dirty = bool(plan.delete or plan.to_read) or not accounted
    _make_deferred_indexes(conn, lock)  # left dropped by a first build that was killed
    with lock, _transaction(conn):
        if dirty:  # gone until the accounting is done: a kill before then replays next time
            conn.execute("DELETE FROM meta WHERE key = ?", (LEDGER_KEY,))
            # and until the rows match the listing: a kill before then lists it all next time
            conn.execute("DELETE FROM meta WHERE key = ?", (STAMPS_KEY,))
        if bulk:
            _defer_indexes(conn)
        if plan.delete:
            conn.executemany("DELETE FROM messages WHERE id = ?", ((i,) for i in plan.delete))
        conn.executemany("UPDATE messages SET location = ?, seq = ? WHERE id = ?", plan.relocate)
        if plan.to_read and plan.mbox_state is not None:
            conn.execute("DELETE FROM meta WHERE key = 'mbox'")
    counts = _counts(conn, lock)
    last = started
    cache_kib = BULK_CACHE_KIB if bulk else WRITE_CACHE_KIB
    combos = ComboIds(conn)
    with _collecting_rarely():
        pooled = workers > 1 and bool(plan.to_read) and not store.remote
        # Both take the messages out of plan.to_read as they go.
        rows_iter: Iterator[tuple[int, MessageRows]] = iter(())
        if plan.to_read:  # the parser is imported only when there is something to parse
            from dmarctui.payloads import Limits

            limits = limits or Limits()
            if store.remote:
                rows_iter = _parse_fetched(store, plan.to_read, limits)
            else:
                rows_iter = _parse(store.format, store.path, plan.to_read, limits, workers)
        lost_box: list[MailStoreError] = []
        lost: MailStoreError | None = None
        try:
            if pooled:  # the worker processes take a second or more to start: say it has begun
                elapsed = time.monotonic() - started
                yield Progress(stats.unchanged, total, counts[0], counts[1], elapsed)
            pending: list[tuple[int, MessageRows]] = []
            for seq, rows in _until_lost(rows_iter, lost_box):
                if cancel is not None and cancel.is_set():
                    stats.cancelled = True
                    break
                pending.append((seq, rows))
                stats.bodies_read += rows.sha256 is not None
                if rows.sha256 is not None and store.format != "mbox":
                    stats.bytes_read += rows.size
                counts[0] += len(rows.reports)
                counts[1] += bool(rows.problems) and not rows.reports and not rows.tls
                now = time.monotonic()
                if now - last >= PROGRESS_EVERY:
                    with lock, _writing(conn, cache_kib):
                        _write(conn, pending, replayer, combos)
                    pending.clear()
                    last = now
                    done = stats.unchanged + stats.bodies_read
                    yield Progress(done, total, counts[0], counts[1], now - started)
            with lock, _writing(conn, cache_kib):
                _write(conn, pending, replayer, combos)
            if lost_box:
                lost = lost_box[0]
                stats.cancelled = True
        finally:
            close = getattr(rows_iter, "close", None)
            if close is not None:
                close()
            if bulk:
                _make_deferred_indexes(conn, lock)
        with lock, _transaction(conn):
            if dirty and replayer is not None:
                replayer.store(conn)
            elif dirty:
                replay(conn)
            if dirty:
                _set_meta(conn, LEDGER_KEY, ledger_state(conn))
            if store.format == "mbox" and plan.mbox_state is not None and not stats.cancelled:
                _save_mbox_state(conn, store.path, plan.mbox_state)
            if plan.stamps is not None and not stats.cancelled:
                _set_meta(conn, STAMPS_KEY, json.dumps(plan.stamps))
            else:
                conn.execute("DELETE FROM meta WHERE key = ?", (STAMPS_KEY,))
            _set_meta(conn, "updated_at", str(time.time()))
            _set_meta(conn, "complete", "0" if stats.cancelled else "1")
    stats.elapsed = time.monotonic() - started
    counts = _counts(conn, lock)
    yield Progress(stats.unchanged + stats.bodies_read, total, counts[0], counts[1], stats.elapsed)
    if lost is not None:
        # What was fetched is stored and accounted; the next update fetches the rest.
        raise lost
    return stats


# --------------------------------------------------------------------------- planning

_BAD_SOURCES = (
    "SELECT DISTINCT r.message_id FROM combos c CROSS JOIN records x ON x.combo_id = c.id"
    " CROSS JOIN reports r ON r.pk = x.report_pk WHERE c.ip_key IS NULL"
)


CANONICAL_SOURCES_KEY = "canonical_sources"
"""Meta key set once the stored source IPs are each spelt one way (``canonical_address``)."""


def _forget_uncanonical_sources(conn: sqlite3.Connection) -> bool:
    """Once per index: drop the messages whose records or failure reports spell a source IP
    otherwise than :func:`dmarctui.source_address.canonical_address` does (stored by a dmarctui that
    kept it as the reporter wrote it: ``2001:DB8::25``, ``::ffff:192.0.2.1``), so they are read
    again and one server is one source. Indexed lookups per such source, then never again."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (CANONICAL_SOURCES_KEY,)).fetchone():
        return False
    odd = [
        ip for (ip,) in conn.execute("SELECT DISTINCT source_ip FROM combos")
        if canonical_address(ip) != ip
    ]  # fmt: skip
    messages: set[int] = set()
    for ip in odd:  # by combos_ip_key (both spellings have the address's key), records_combo
        messages.update(
            id_
            for (id_,) in conn.execute(
                "SELECT DISTINCT r.message_id FROM combos c"
                " CROSS JOIN records x ON x.combo_id = c.id"
                " CROSS JOIN reports r ON r.pk = x.report_pk"
                f" WHERE {SOURCE_COMBOS.format(alias='c.')}",
                (ip_key(ip), ip),
            )
        )
    messages.update(
        id_
        for id_, ip in conn.execute(
            "SELECT message_id, source_ip FROM failures WHERE source_ip IS NOT NULL"
        )
        if canonical_address(ip) != ip
    )
    with _transaction(conn):
        _forget(conn, messages)
        _set_meta(conn, CANONICAL_SOURCES_KEY, "1")
    return bool(messages)


def _forget_bad_sources(conn: sqlite3.Connection) -> bool:
    """Drop messages whose records have a source IP that is not an address (``ip_key`` NULL),
    stored by a dmarctui that did not check it: they are read again, and are errors now. An
    indexed lookup, so an index without any costs nothing."""
    bad = [row[0] for row in conn.execute(_BAD_SOURCES)]
    if bad:
        with _transaction(conn):
            _forget(conn, bad)
    return bool(bad)


def _forget(conn: sqlite3.Connection, messages: Iterable[int]) -> None:
    """Drop messages so that the next listing reads them again: with them go the mbox's stored
    size and end (an unchanged mbox is otherwise not read at all, and appended mail only after
    the stored end) and the Maildir directory stamps (a kill before this update ends would
    otherwise leave unchanged directories trusted), in the same transaction."""
    ids = sorted(set(messages))
    if not ids:
        return
    conn.executemany("DELETE FROM messages WHERE id = ?", ((i,) for i in ids))
    conn.execute("DELETE FROM meta WHERE key IN ('mbox', ?)", (STAMPS_KEY,))


def _plan(
    conn: sqlite3.Connection,
    lock: AbstractContextManager[object],
    store: MailStore,
    stats: UpdateStats,
    trust_stamps: bool = False,
) -> _Plan:
    """What to read, drop and move. The index's lock is held while the index is read, not
    while a whole Maildir, MH folder or IMAP mailbox is listed (seconds at 100,000 messages, or
    over a network): the TUI's report list queries the index meanwhile, and waited."""
    stamps: dict[str, list[int]] = {}
    before: dict[str, Any] = {}
    trusted: set[str] = set()
    with lock:
        if isinstance(store, MaildirStore):
            taken = time.time_ns()
            stamps = _stamps(store.path)  # before the listing: a change during it shows next time
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (STAMPS_KEY,)).fetchone()
            before = {} if row is None else json.loads(row[0])
            trusted = _trusted(before, stamps) if trust_stamps else set()
            if trusted:
                plan = _plan_appended_mail(conn, store, trusted, stats)
                if plan is not None:
                    plan.stamps = _settled(stamps, before["full"], taken)
                    return plan
        rows = conn.execute("SELECT key, id, location, size, mtime, seq FROM messages")
        stored: dict[str, _Stored] = {row[0]: row for row in rows}
        if isinstance(store, MboxStore):
            return _plan_mbox(conn, store, stored, stats)
    if not isinstance(store, MaildirStore):
        return _diff(store.listing(), 0, stored, stats)
    known = {
        location: (size, mtime)
        for _, _, location, size, mtime, _ in stored.values()
        if location.partition("/")[0] in trusted
    }
    listing = store.listing(known)
    for sub in _unlisted(listing):  # listed again next time, not trusted to hold nothing
        stamps.pop(sub, None)
    plan = _diff(listing, 0, stored, stats)
    plan.stamps = _settled(stamps, before["full"] if trusted else time.time(), taken)
    return plan


def _unlisted(listing: list[Listed]) -> set[str]:
    """The subfolders with an entry that could not be listed or stat'ed (an error entry): a
    passing fault (EIO, a soft NFS mount's timeout) must not be trusted as the directory's
    content until it next changes."""
    return {
        location.partition("/")[0]
        for key, location, size, mtime in listing
        if key.endswith("/") or (size == 0 and mtime == 0.0)
    }


def _plan_appended_mail(
    conn: sqlite3.Connection, store: MaildirStore, trusted: set[str], stats: UpdateStats
) -> _Plan | None:
    """The plan when the trusted directories hold what they held and the others only gained
    files, all named after every stored message (new mail, as it is delivered): only the
    changed directories are listed, and only their stored messages are compared. None when
    anything else changed: the caller lists the whole folder.
    """
    changed = tuple(sub for sub in ("new", "cur") if sub not in trusted)
    marks = ", ".join("?" * len(changed))
    stored = {
        row[0]: row
        for row in conn.execute(
            "SELECT key, location, size, mtime FROM messages"
            f" WHERE substr(location, 1, 4) IN ({marks})",
            [f"{sub}/" for sub in changed],
        )
    }
    listing = store.listing(subfolders=changed) if changed else []
    if _unlisted(listing):
        return None  # the whole folder is listed, and the faulty directory not trusted
    fresh: list[Listed] = []
    for listed in listing:
        old = stored.pop(listed[0], None)
        if old is None:
            fresh.append(listed)
        elif old[1:] != listed[1:]:
            return None  # moved, changed or replaced
    if stored:
        return None  # gone, or moved to a trusted directory (which would have changed)
    count, last_key, last_seq = conn.execute(
        "SELECT count(*), max(key), max(seq) FROM messages"
    ).fetchone()
    if fresh and last_key is not None and fresh[0][0] <= last_key:
        return None  # not after every stored message: positions shift
    first_seq = -1 if last_seq is None else last_seq
    stats.unchanged += count
    stats.new += len(fresh)
    plan = _Plan()
    plan.to_read = [(first_seq + n, MessageRef(*listed)) for n, listed in enumerate(fresh, 1)]
    plan.appended = True
    return plan


STAMPS_KEY = "maildir_stamps"
"""Meta key holding the stamps of a Maildir's ``new/`` and ``cur/`` as the last update that
indexed the whole folder listed them, and when it last stat'ed every file (``full``)."""
SETTLED_NS = 2_000_000_000
"""A directory changed less than this long before it was stamped may change again within the
same tick of its file system's clock (coarse on Linux, whole seconds on some): its stamp is not
kept, and its files are stat'ed next time."""
FULL_LISTING_EVERY = 3600.0
"""Seconds after which every file is stat'ed again even in unchanged directories: a file
rewritten in place (Maildir's rules forbid it, some scripts do it) changes no directory."""


def _stamps(folder: Path) -> dict[str, list[int]]:
    """Inode, size, mtime and ctime of ``new/`` and ``cur/``: any file added, removed or
    renamed there (a delivery, a move, a flag change, a file replaced under its name) changes
    them."""
    stamps = {}
    for sub in ("new", "cur"):
        try:
            st = os.stat(folder / sub)
        except OSError:
            continue
        stamps[sub] = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    return stamps


def _trusted(before: dict[str, Any], stamps: dict[str, list[int]]) -> set[str]:
    """The subfolders whose stamp is the one ``before`` holds from the last update, which
    listed them: they hold the same files, with the stored sizes and mtimes. At 100,000
    messages the stats were a third of a rescan that finds nothing new."""
    age = time.time() - before.get("full", 0.0)
    if not 0 <= age < FULL_LISTING_EVERY:  # due, or the clock was set back
        return set()
    return {sub for sub, stamp in stamps.items() if before.get(sub) == stamp}


def _settled(stamps: dict[str, list[int]], full: float, taken: int) -> dict[str, Any]:
    """The stamps worth keeping (see ``SETTLED_NS``), and ``full``: when every file was last
    stat'ed. ``taken`` is when the stamps were taken (before the listing, which may take
    seconds): a change in the same clock tick after them would not show in them."""
    kept: dict[str, Any] = {
        sub: stamp for sub, stamp in stamps.items() if max(stamp[2], stamp[3]) < taken - SETTLED_NS
    }
    kept["full"] = full
    return kept


def _diff(
    listing: list[Listed],
    first_seq: int,
    stored: dict[str, _Stored],
    stats: UpdateStats,
    *,
    slot: Callable[[str], str] = str,
    keep_rest: bool = False,
    by_mtime: bool = True,
) -> _Plan:
    """Compare a listing with what is stored: read what is new or changed, drop what is gone.

    ``slot`` maps a location to the place a message occupies (MH number, mbox offset), so a
    message rewritten in place counts as changed; an mbox key holds a content hash, and every
    message of an mbox has the file's mtime, so there ``by_mtime`` is off.
    """
    plan = _Plan()
    fresh: list[tuple[int, MessageRef]] = []
    unchanged = moved = 0
    last_old_seq = -1
    in_order = True  # stored messages are listed in their stored order, new ones after them
    for seq, listed in enumerate(listing, start=first_seq):
        key, location, size, mtime = listed
        old = stored.pop(key, None)
        if old is None:
            fresh.append((seq, MessageRef(*listed)))
            continue
        _, old_id, old_location, old_size, old_mtime, old_seq = old
        if old_size != size or (by_mtime and old_mtime != mtime):
            stats.changed += 1
            plan.delete.append(old_id)
            plan.to_read.append((seq, MessageRef(*listed)))
        else:
            unchanged += 1
            in_order = in_order and old_seq > last_old_seq and not (keep_rest or fresh)
            last_old_seq = old_seq
            if old_location != location:
                moved += 1
                plan.relocate.append((location, seq, old_id))
            elif old_seq != seq:
                plan.relocate.append((location, seq, old_id))
    stats.unchanged += unchanged
    stats.moved += moved
    if keep_rest:
        stats.unchanged += len(stored)
        stored = {}
    gone_slots = {slot(location): key for key, (_, _, location, *_) in stored.items()}
    for seq, ref in fresh:
        replaced = gone_slots.pop(slot(ref.location), None)
        if replaced is not None:
            stats.changed += 1
            plan.delete.append(stored.pop(replaced)[1])
        else:
            stats.new += 1
        plan.to_read.append((seq, ref))
    plan.to_read.sort(key=lambda pair: pair[0])
    for key, old in stored.items():
        stats.gone += 1
        stats.gone_keys.append(key)
        plan.delete.append(old[1])
    plan.appended = in_order and not plan.delete
    return plan


def _plan_mbox(
    conn: sqlite3.Connection, store: MboxStore, stored: dict[str, _Stored], stats: UpdateStats
) -> _Plan:
    st = os.stat(store.path)
    state = _mbox_state(conn)
    listed = (st.st_size, st.st_mtime)
    if state is not None and stored:
        size, mtime, end, window = state
        if (size, mtime) == listed:
            stats.unchanged = len(stored)
            return _Plan()
        if st.st_size >= end and _window(store.path, end, stats) == window:
            try:
                listing = _listed(store.refs(start_offset=end), stats)
            except MailStoreError:
                # No message starts where the last indexed one ended: it was still being
                # delivered then, or it grew since. List the whole file again.
                pass
            else:
                last_seq = max(old[5] for old in stored.values())
                plan = _diff(listing, last_seq + 1, stored, stats, keep_rest=True, by_mtime=False)
                plan.mbox_state = listed
                return plan
    stats.rewritten = bool(stored)
    listing = _listed(store.refs(), stats)
    plan = _diff(listing, 0, stored, stats, slot=_offset, by_mtime=False)
    plan.mbox_state = listed
    return plan


def _offset(location: str) -> str:
    return location.split(":", 1)[0]


def _listed(refs: Iterator[MessageRef], stats: UpdateStats) -> list[Listed]:
    listing = []
    for ref in refs:
        stats.bytes_read += int(ref.location.split(":", 1)[1])
        listing.append((ref.key, ref.location, ref.size, ref.mtime))
    return listing


def _window(path: Path, end: int, stats: UpdateStats | None = None) -> str:
    """Hash of the first bytes of the mbox and of the bytes just before ``end``."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        head = file.read(min(WINDOW_HEAD, end))
        start = max(0, end - WINDOW_TAIL)
        file.seek(start)
        tail = file.read(end - start)
    digest.update(head)
    digest.update(tail)
    if stats is not None:
        stats.bytes_read += len(head) + len(tail)
    return digest.hexdigest()


def _mbox_state(conn: sqlite3.Connection) -> tuple[int, float, int, str] | None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'mbox'").fetchone()
    if row is None:
        return None
    size, mtime, end, window = row[0].split(" ")
    return int(size), float(mtime), int(end), window


def _save_mbox_state(conn: sqlite3.Connection, path: Path, listed: tuple[int, float]) -> None:
    end = 0
    for (location,) in conn.execute("SELECT location FROM messages"):
        offset, length = (int(n) for n in location.split(":"))
        end = max(end, offset + length)
    state = f"{listed[0]} {listed[1]!r} {end} {_window(path, end)}"
    _set_meta(conn, "mbox", state)


# --------------------------------------------------------------------------- parsing


def _parse(
    fmt: FolderFormat,
    folder: Path,
    to_read: list[tuple[int, MessageRef]],
    limits: Limits,
    workers: int,
) -> Iterator[tuple[int, MessageRows]]:
    batches = _batches(fmt, folder, to_read, limits)
    if workers <= 1:
        return (item for batch in batches for item in parse_batch(batch))
    return _pooled(batches, workers)


def _until_lost(
    rows: Iterator[tuple[int, MessageRows]], lost: list[MailStoreError]
) -> Iterator[tuple[int, MessageRows]]:
    """``rows`` until the folder cannot be read any more (a lost IMAP connection): the error
    goes into ``lost`` and the update stores everything read before it."""
    try:
        yield from rows
    except MailStoreError as exc:
        lost.append(exc)


def _parse_fetched(
    store: MailStore, to_read: list[tuple[int, MessageRef]], limits: Limits
) -> Iterator[tuple[int, MessageRows]]:
    """Messages of a remote folder: fetched in batches by this process (one connection),
    parsed here as they arrive; the network, not the parsing, sets the pace."""
    from dmarctui.analysis import analyse_message, too_large, unreadable

    seqs = {ref.key: seq for seq, ref in to_read}
    refs = []
    for seq, ref in to_read:
        if ref.size > limits.max_message:  # never fetched: the server's size is enough
            yield seq, message_rows(too_large(ref, ref.size, limits), None)
            del seqs[ref.key]
        else:
            refs.append(ref)
    to_read.clear()
    for ref, raw in store.fetch(refs):
        seq = seqs.pop(ref.key)
        if raw is None:
            gone = MessageGone(f"message {ref.key} is no longer in the folder")
            yield seq, message_rows(unreadable(ref, gone), None)
            continue
        sha = hashlib.sha256(raw).hexdigest()
        if len(raw) > limits.max_message:  # fetched whole: the listed size may have lied
            yield seq, message_rows(too_large(ref, len(raw), limits), sha)
            continue
        yield seq, message_rows(analyse_message(raw, ref, limits), sha)


def _batches(
    fmt: FolderFormat, folder: Path, to_read: list[tuple[int, MessageRef]], limits: Limits
) -> Iterator[tuple[FolderFormat, Path, list[tuple[int, MessageRef]], Limits]]:
    """Jobs of at most ``BATCH`` messages and ``BATCH_BYTES`` bytes, made as they are sent and
    taken out of ``to_read``: at 100,000 messages the listing is 40 MB that the accounts can use
    as the scan goes on."""
    to_read.reverse()
    while to_read:
        batch = [to_read.pop()]
        size = batch[0][1].size
        while to_read and len(batch) < BATCH and size + to_read[-1][1].size <= BATCH_BYTES:
            batch.append(to_read.pop())
            size += batch[-1][1].size
        yield fmt, folder, batch, limits


def _pooled(
    batches: Iterable[tuple[FolderFormat, Path, list[tuple[int, MessageRef]], Limits]],
    workers: int,
) -> Generator[tuple[int, MessageRows], None, None]:
    """Results in folder order, with at most a few batches per worker in flight (flat memory)."""
    in_flight: list[Future[list[tuple[int, MessageRows]]]] = []
    from dmarctui import worker_pool

    todo = iter(batches)
    with worker_pool.executor(workers, initializer=worker_gc) as pool:
        try:
            for batch in _take(todo, workers * IN_FLIGHT):
                in_flight.append(pool.submit(parse_batch, batch))
            while in_flight:
                results = in_flight.pop(0).result()
                for batch in _take(todo, 1):
                    in_flight.append(pool.submit(parse_batch, batch))
                yield from results
        finally:
            for future in in_flight:
                future.cancel()


def _take(items: Iterator[object], n: int) -> Iterable:  # type: ignore[type-arg]
    for _ in range(n):
        item = next(items, None)
        if item is None:
            return
        yield item


WORKER_GC_THRESHOLD = 10_000
"""Container allocations between young-generation collections in a worker (default 700)."""


@contextmanager
def _collecting_rarely() -> Iterator[None]:
    """The writer's process collects as rarely as a worker while an update writes and accounts:
    the accounts of every message stay, and with the default threshold the collector scanned
    them over and over (a cold scan of 100,000 messages took a sixth longer). The setting is
    the whole process's (the TUI's too, only making collections rarer); ``Index.update`` runs
    one update at a time, so the thresholds put back are the usual ones."""
    thresholds = gc.get_threshold()
    gc.set_threshold(WORKER_GC_THRESHOLD, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def worker_gc() -> None:
    """Collect less often in a parsing worker: a report's element tree and model objects live
    for a millisecond, and with the default threshold they were scanned and promoted over and
    over (a tenth of the worker's time). Cycles are still collected; the modules loaded by
    then are frozen out of full collections (the parser's among them)."""
    import dmarctui.analysis  # noqa: F401  (imported before the freeze)

    gc.freeze()
    gc.set_threshold(WORKER_GC_THRESHOLD, 50, 100)


def parse_batch(
    batch: tuple[FolderFormat, Path, list[tuple[int, MessageRef]], Limits],
) -> list[tuple[int, MessageRows]]:
    """Read and parse a batch of messages into index rows; runs in a worker process."""
    from dmarctui.analysis import read_and_analyse

    fmt, folder, refs, limits = batch
    out = []
    for seq, ref in refs:
        outcome, raw = read_and_analyse(fmt, folder, ref, limits)
        sha = None if raw is None else hashlib.sha256(raw).hexdigest()
        out.append((seq, message_rows(outcome, sha)))
    return out


# --------------------------------------------------------------------------- writing

_INSERT_MESSAGE = (
    "INSERT INTO messages (key, seq, location, size, mtime, sha256, subject, sender, date,"
    " message_id, not_report_reason, scanned_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_REPORT = (
    f"INSERT INTO reports (message_id, {', '.join(REPORT_COLUMNS)})"
    f" VALUES (?{', ?' * len(REPORT_COLUMNS)})"
)
_INSERT_RECORD = (
    f"INSERT INTO records (report_pk, {', '.join(RECORD_OWN_COLUMNS)}, combo_id)"
    f" VALUES (?{', ?' * len(RECORD_OWN_COLUMNS)}, ?)"
)
_OWN = operator.itemgetter(*(RECORD_COLUMNS.index(c) for c in RECORD_OWN_COLUMNS))
_COMBO_AT = tuple(RECORD_COLUMNS.index(c) for c in COMBO_COLUMNS)
_IP_KEY_AT = RECORD_COLUMNS.index("ip_key")
_FIND_COMBO = f"SELECT id, {', '.join(COMBO_COLUMNS)} FROM combos WHERE digest = ?"
_ADD_COMBO = (
    f"INSERT INTO combos ({', '.join(COMBO_COLUMNS)}, ip_key, digest)"
    f" VALUES (?{', ?' * (len(COMBO_COLUMNS) + 1)})"
)
_COMBO_KEY = operator.itemgetter(*_COMBO_AT)
"""A record's combination (a C call: this runs once per record written)."""


COMBO_CACHE = 25_000
"""Combinations the writer remembers per generation; two generations at most (~15 MB)."""


class ComboIds:
    """The ``combos`` id of each record written, adding combinations not seen before.

    Records repeat a few thousand combinations, so a dictionary answers almost every record and
    the database is asked once per combination it does not hold. The dictionary is bounded: a
    folder of ever new combinations (two million records from random sources) held every one of
    them, a third of the writer's memory. Once ``COMBO_CACHE`` combinations are in it, it becomes
    the old generation and a new one starts; a combination found in the old one moves to the
    new, so the ones that keep coming are never looked up again.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._ids: dict[tuple[Any, ...], int] = {}
        self._old: dict[tuple[Any, ...], int] = {}

    def of(self, record: tuple[Any, ...]) -> int:
        key = _COMBO_KEY(record)
        found = self._ids.get(key)
        if found is None:
            found = self._old.get(key)
            if found is None:
                found = self._stored(key, record[_IP_KEY_AT])
            if len(self._ids) >= COMBO_CACHE:
                self._old, self._ids = self._ids, {}
            self._ids[key] = found
        return found

    def _stored(self, key: tuple[Any, ...], address_key: str | None) -> int:
        """The id of a combination not in the cache: found by its digest (two combinations
        may share one: their columns tell them apart), or added."""
        digest = combo_digest(*key)
        for found, *columns in self._conn.execute(_FIND_COMBO, (digest,)):
            if tuple(columns) == key:
                return int(found)
        return _rowid(self._conn.execute(_ADD_COMBO, (*key, address_key, digest)))


_INSERT_FAILURE = (
    f"INSERT INTO failures (message_id, {', '.join(FAILURE_COLUMNS)})"
    f" VALUES (?{', ?' * len(FAILURE_COLUMNS)})"
)
_INSERT_TLS = (
    f"INSERT INTO tls (message_id, {', '.join(TLS_COLUMNS)}) VALUES (?{', ?' * len(TLS_COLUMNS)})"
)


def _write(
    conn: sqlite3.Connection,
    pending: list[tuple[int, MessageRows]],
    replayer: Replayer | None,
    combos: ComboIds,
) -> None:
    """Insert the rows of parsed messages; ``replayer`` accounts each one as it is written.

    Runs inside :func:`_writing`, without foreign-key checks: each row refers to the row inserted
    just before it, and checking cost a lookup per record.
    """
    now = time.time()
    for seq, rows in pending:
        message_id = _rowid(conn.execute(
            _INSERT_MESSAGE,
            (rows.key, seq, rows.location, rows.size, rows.mtime, rows.sha256, *rows.summary,
             rows.not_report_reason, now),
        ))  # fmt: skip
        pks = []
        for report, records in rows.reports:
            pk = _rowid(conn.execute(_INSERT_REPORT, (message_id, *report)))
            write_records(conn, pk, records, combos)
            pks.append(pk)
        failure_ids = [_rowid(conn.execute(_INSERT_FAILURE, (message_id, *f)))
                       for f in rows.failures]  # fmt: skip
        tls_ids = [_rowid(conn.execute(_INSERT_TLS, (message_id, *t))) for t in rows.tls]
        if rows.problems:
            conn.executemany(
                "INSERT INTO problems (message_id, part, filename, reason) VALUES (?,?,?,?)",
                [(message_id, *p) for p in rows.problems],
            )
        if replayer is not None:
            replayer.written(message_id, rows, pks, failure_ids, tls_ids)


def write_records(
    conn: sqlite3.Connection, pk: int, records: list[tuple[Any, ...]], combos: ComboIds
) -> None:
    """Insert the records of report ``pk``, given as :data:`RECORD_COLUMNS` rows: each row
    stores its own columns and the id of its combination."""
    conn.executemany(_INSERT_RECORD, [(pk, *_OWN(record), combos.of(record)) for record in records])


def _rowid(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an INSERT just added (only None for statements that add none)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise sqlite3.InterfaceError("an INSERT reported no rowid")
    return rowid


@contextmanager
def _writing(conn: sqlite3.Connection, cache_kib: int) -> Iterator[None]:
    """A transaction for ``_write``: foreign-key checks off and a larger page cache, both given
    back before the lock is: they are settings of the connection, which another update (the
    TUI starts one while the last is still stopping) or a reader may use next. SQLite only
    switches foreign keys outside a transaction."""
    cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = -{cache_kib}")
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        with _transaction(conn):
            yield
    finally:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA cache_size = {int(cache_size)}")


class _transaction(AbstractContextManager[None]):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:  # SQLite ends it by itself on a full disk: keep that error
            self.conn.execute("ROLLBACK")


def _no_reports(conn: sqlite3.Connection, lock: AbstractContextManager[object]) -> bool:
    with lock:
        return conn.execute("SELECT 1 FROM reports LIMIT 1").fetchone() is None


def _defer_indexes(conn: sqlite3.Connection) -> None:
    """Drop the secondary indexes of reports, records and combos (but ``combos_digest``, which
    finds a combination again as it is written), remembering how to make them."""
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
        " AND tbl_name IN ('reports', 'records', 'combos') AND name != 'combos_digest'"
        " AND sql IS NOT NULL ORDER BY name"
    ).fetchall()
    _set_meta(conn, DEFERRED_KEY, json.dumps(indexes))
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')


def _make_deferred_indexes(conn: sqlite3.Connection, lock: AbstractContextManager[object]) -> None:
    """Make the indexes a first build dropped, on a connection of their own.

    The index's connection keeps temporary data in memory (triage's working tables), and
    SQLite's sorter follows that setting: building the records' indexes there held every key
    being sorted, 150 MB at 2,000,000 records. Another connection to the same file sorts in
    temporary files past its page cache, so the memory stays flat (and it was three times
    faster). An index in memory has no file to share: it sorts on its own connection.
    """
    with lock:
        if conn.execute("SELECT 1 FROM meta WHERE key = ?", (DEFERRED_KEY,)).fetchone() is None:
            return
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        if not path:
            with _transaction(conn):
                restore_deferred_indexes(conn)
            return
        side = sqlite3.connect(path, isolation_level=None)
        try:
            side.execute("PRAGMA synchronous = NORMAL")
            side.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
            with _transaction(side):
                restore_deferred_indexes(side)
        finally:
            side.close()


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _counts(conn: sqlite3.Connection, lock: AbstractContextManager[object]) -> list[int]:
    with lock:
        reports = conn.execute("SELECT count(*) FROM reports WHERE is_first").fetchone()[0]
        errors = conn.execute("SELECT count(*) FROM issues WHERE kind = 'error'").fetchone()[0]
    return [reports, errors]
