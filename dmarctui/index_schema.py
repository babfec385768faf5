"""The index database file: where it lives, its schema, and forward migrations.

The schema version is ``PRAGMA user_version``; each entry of :data:`MIGRATIONS` takes a database
from the previous version to the next. A file written by a newer dmarctui is refused before
anything is written to it, and a file that is not a dmarctui index is never touched.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

APPLICATION_ID = 0x444D5443
"""``PRAGMA application_id`` of a dmarctui index ("DMTC")."""


class IndexStoreError(Exception):
    """The index file cannot be used; ``str()`` is one line naming the file and why."""


def storage_error(where: Path | str | None, exc: sqlite3.Error) -> IndexStoreError:
    """One line for a SQLite failure met while using the index: what happened and what to do.

    A damaged file (pages broken behind an intact header: ``DatabaseError``, ``IntegrityError``)
    and a full disk are the user's to fix; the transaction in progress is rolled back, so what
    failed was never written. A misused API (``ProgrammingError``, ``InterfaceError``) is
    dmarctui's own bug, and is not blamed on the file.
    """
    name = str(where) if where is not None else "the in-memory index"
    text = str(exc)
    if "full" in text or "disk I/O" in text:
        return IndexStoreError(
            f"cannot write the index {name}: {text}; free some space, or choose another file"
            " with --db FILE"
        )
    if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        return IndexStoreError(f"the index {name} is in use by another dmarctui ({text})")
    if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
        # A query dmarctui got wrong, not the file: rebuilding it would change nothing.
        return IndexStoreError(
            f"dmarctui made a wrong query on the index {name} ({text}); the index is not"
            " damaged: please report this, with the command that failed"
        )
    return IndexStoreError(
        f"the index {name} is damaged ({text}); rebuild it with --db NEW, or delete {name}"
        " (it holds nothing that a new scan cannot rebuild)"
    )


def default_db_path(folder: Path) -> Path:
    """One database per folder under the user's cache directory, keyed by the resolved path."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    resolved = str(folder.expanduser().resolve())
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(resolved).name)[:40] or "folder"
    return Path(cache) / "dmarctui" / f"{name}-{digest}.sqlite3"


def ip_key(address: str | None) -> str | None:
    """A fixed-width hex spelling of an IP address (IPv4 as IPv4-mapped IPv6).

    Text order equals numeric order, so a CIDR is a ``BETWEEN`` range on an indexed column.
    """
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        ip = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed)
    return ip.packed.hex()


def network_range(text: str) -> tuple[str, str]:
    """(lowest, highest) :func:`ip_key` of an address or CIDR; ValueError when it is neither."""
    network = ipaddress.ip_network(text.strip(), strict=False)
    low = ip_key(str(network.network_address))
    high = ip_key(str(network.broadcast_address))
    assert low is not None and high is not None
    return low, high


_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    location TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT,
    bucket TEXT,
    subject TEXT NOT NULL DEFAULT '',
    sender TEXT NOT NULL DEFAULT '',
    date TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    not_report_reason TEXT,
    scanned_at REAL NOT NULL
);
CREATE INDEX messages_seq ON messages(seq);
CREATE INDEX messages_bucket ON messages(bucket);
CREATE TABLE reports (
    pk INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    part TEXT NOT NULL,
    filename TEXT,
    content_key TEXT NOT NULL,
    records_key TEXT NOT NULL,
    policy_key TEXT NOT NULL,
    org_name TEXT NOT NULL,
    email TEXT NOT NULL,
    report_id TEXT NOT NULL,
    begin INTEGER NOT NULL,
    end INTEGER NOT NULL,
    extra_contact_info TEXT,
    errors TEXT NOT NULL DEFAULT '[]',
    generator TEXT,
    domain TEXT NOT NULL,
    p TEXT NOT NULL,
    adkim TEXT, aspf TEXT, sp TEXT, np TEXT, pct INTEGER, fo TEXT, testing TEXT,
    discovery_method TEXT,
    version TEXT,
    namespace TEXT,
    normalised TEXT NOT NULL DEFAULT '[]',
    repairs TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    messages_total INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    d_none INTEGER NOT NULL,
    d_quarantine INTEGER NOT NULL,
    d_reject INTEGER NOT NULL,
    is_first INTEGER NOT NULL DEFAULT 0,
    counted INTEGER NOT NULL DEFAULT 0,
    copies INTEGER NOT NULL DEFAULT 0,
    collision INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reports_message ON reports(message_id);
CREATE INDEX reports_first_begin ON reports(is_first, begin);
CREATE INDEX reports_content ON reports(content_key);
CREATE INDEX reports_domain ON reports(domain COLLATE NOCASE);
CREATE INDEX reports_org ON reports(org_name COLLATE NOCASE);
CREATE INDEX reports_report_id ON reports(report_id);
CREATE TABLE records (
    id INTEGER PRIMARY KEY,
    report_pk INTEGER NOT NULL REFERENCES reports(pk) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    source_ip TEXT NOT NULL,
    count INTEGER NOT NULL,
    disposition TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf TEXT NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    header_from TEXT NOT NULL,
    envelope_from TEXT,
    envelope_to TEXT,
    auth_dkim TEXT NOT NULL DEFAULT '[]',
    auth_spf TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX records_report ON records(report_pk, idx);
CREATE INDEX records_source ON records(source_ip);
CREATE TABLE failures (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    digest TEXT NOT NULL,
    is_first INTEGER NOT NULL DEFAULT 0,
    source_ip TEXT,
    arrival_epoch INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX failures_message ON failures(message_id);
CREATE TABLE tls (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    digest TEXT NOT NULL,
    is_first INTEGER NOT NULL DEFAULT 0,
    organization_name TEXT NOT NULL,
    report_id TEXT NOT NULL,
    begin INTEGER NOT NULL,
    end INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX tls_message ON tls(message_id);
CREATE TABLE problems (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    part TEXT,
    filename TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX problems_message ON problems(message_id);
CREATE TABLE duplicates (
    id INTEGER PRIMARY KEY,
    message TEXT NOT NULL,
    duplicate_of TEXT NOT NULL,
    why TEXT NOT NULL,
    report_id TEXT NOT NULL
);
CREATE TABLE collisions (
    id INTEGER PRIMARY KEY,
    report_id TEXT NOT NULL,
    first TEXT NOT NULL,
    second TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    counted_once INTEGER NOT NULL
);
CREATE TABLE issues (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('error', 'warning', 'not_report')),
    message TEXT NOT NULL,
    reason TEXT NOT NULL,
    part TEXT,
    filename TEXT
);
"""
"""Version 1: everything a scan learns, one row per message, report, record, problem."""

_V2 = """
CREATE TABLE ptr_cache (ip TEXT PRIMARY KEY, ptr TEXT, fetched_at REAL NOT NULL);
ALTER TABLE records ADD COLUMN ip_key TEXT;
UPDATE records SET ip_key = dmarctui_ip_key(source_ip);
CREATE INDEX records_ip_key ON records(ip_key);
"""
"""Version 2: a persistent PTR cache for reverse DNS, and records searchable by network."""

_V3 = """
DROP INDEX IF EXISTS records_source;
"""
"""Version 3: records are looked up by ``ip_key`` alone; the plain source_ip index only cost
inserts (about a quarter of the writer's time on a cold scan)."""

COMBO_COLUMNS = (
    "source_ip", "header_from", "disposition", "dkim", "spf", "reasons", "auth_dkim", "auth_spf",
)  # fmt: skip
"""The record columns triage classifies by: one ``combos`` row per distinct combination."""

_V4 = f"""
CREATE TABLE combos (
    id INTEGER PRIMARY KEY,
    source_ip TEXT NOT NULL,
    header_from TEXT NOT NULL,
    disposition TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf TEXT NOT NULL,
    reasons TEXT NOT NULL,
    auth_dkim TEXT NOT NULL,
    auth_spf TEXT NOT NULL,
    UNIQUE ({", ".join(COMBO_COLUMNS)})
);
ALTER TABLE records ADD COLUMN combo_id INTEGER REFERENCES combos(id);
INSERT OR IGNORE INTO combos ({", ".join(COMBO_COLUMNS)})
    SELECT {", ".join(COMBO_COLUMNS)} FROM records ORDER BY id;
UPDATE records SET combo_id = (SELECT c.id FROM combos c WHERE
    {" AND ".join(f"c.{c} = records.{c}" for c in COMBO_COLUMNS)});
CREATE INDEX records_combo ON records(combo_id, report_pk);
DROP INDEX records_report;
CREATE INDEX records_report ON records(report_pk, idx, combo_id, count);
ALTER TABLE ptr_cache ADD COLUMN confirmed INTEGER;
"""
"""Version 4: triage from the index. Classification depends only on the ``combos`` columns (plus
the config and PTR names), so verdicts are computed once per distinct combination and the counts
come from SQL: ``records_report`` now covers what the counts read (scanned in report order, each
report looked up once), and ``records_combo`` finds the records of one finding (evidence). The
PTR cache remembers whether a name is forward-confirmed (it resolves back to the address); NULL
for names cached before, which are then not trusted."""

_V5 = """
CREATE INDEX IF NOT EXISTS failures_digest ON failures(digest);
CREATE INDEX IF NOT EXISTS tls_digest ON tls(digest);
"""
"""Version 5: new mail continues the ledger from the stored verdicts instead of replaying it, and
asks whether each failure or TLS report it holds was seen before: by digest, an indexed lookup."""

_V6 = """
CREATE TABLE data_generation (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT INTO data_generation (id, n) VALUES (1, 0);
CREATE TRIGGER reports_insert_generation AFTER INSERT ON reports BEGIN UPDATE data_generation SET n = n + 1; END;
CREATE TRIGGER reports_delete_generation AFTER DELETE ON reports BEGIN UPDATE data_generation SET n = n + 1; END;
CREATE TRIGGER reports_update_generation AFTER UPDATE ON reports BEGIN UPDATE data_generation SET n = n + 1; END;
CREATE TABLE report_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, pk INTEGER NOT NULL);
CREATE TRIGGER reports_delete_change AFTER DELETE ON reports BEGIN INSERT INTO report_changes (pk) VALUES (old.pk); END;
CREATE TRIGGER reports_update_change AFTER UPDATE OF pk, counted, begin, end, org_name, email, domain, p, sp, adkim, aspf, pct ON reports WHEN old.pk IS NOT new.pk OR old.counted IS NOT new.counted OR old.begin IS NOT new.begin OR old.end IS NOT new.end OR old.org_name IS NOT new.org_name OR old.email IS NOT new.email OR old.domain IS NOT new.domain OR old.p IS NOT new.p OR old.sp IS NOT new.sp OR old.adkim IS NOT new.adkim OR old.aspf IS NOT new.aspf OR old.pct IS NOT new.pct BEGIN INSERT INTO report_changes (pk) VALUES (old.pk); END;
CREATE TABLE triage_results (
    key TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    max_pk INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    max_combo INTEGER NOT NULL,
    used_at REAL NOT NULL,
    summary TEXT NOT NULL,
    findings TEXT NOT NULL,
    failing TEXT NOT NULL,
    combo_ids TEXT NOT NULL
);
"""  # noqa: E501
"""Version 6: stored triage results. ``data_generation`` changes in the same transaction as any
insert, delete or update of a report (records are only written with their report and deleted
with it), so a result stored with the generation it counted is served again only while the
index holds exactly the same data. ``report_changes`` logs each report deleted or changed in
what triage reads (not the reports added), so a stored result is brought up to date by counting
only the reports added since, when none it counted changed (:mod:`dmarctui.index_triage_store`)."""


def _migrate_5_to_6(conn: sqlite3.Connection) -> None:
    """Stored triage results and the generation that keeps them honest (kept apart from other
    migrations so that each can be ordered on its own)."""
    _script(_V6)(conn)


_V7 = f"""
INSERT OR IGNORE INTO combos ({", ".join(COMBO_COLUMNS)})
    SELECT {", ".join(COMBO_COLUMNS)} FROM records WHERE combo_id IS NULL ORDER BY id;
UPDATE records SET combo_id = (SELECT c.id FROM combos c WHERE
    {" AND ".join(f"c.{c} = records.{c}" for c in COMBO_COLUMNS)}) WHERE combo_id IS NULL;
CREATE TABLE combos_v7 (
    id INTEGER PRIMARY KEY,
    source_ip TEXT NOT NULL,
    header_from TEXT NOT NULL,
    disposition TEXT NOT NULL,
    dkim TEXT NOT NULL,
    spf TEXT NOT NULL,
    reasons TEXT NOT NULL,
    auth_dkim TEXT NOT NULL,
    auth_spf TEXT NOT NULL,
    ip_key TEXT,
    digest INTEGER NOT NULL
);
INSERT INTO combos_v7 (id, {", ".join(COMBO_COLUMNS)}, ip_key, digest)
    SELECT id, {", ".join(COMBO_COLUMNS)}, dmarctui_ip_key(source_ip),
    dmarctui_combo_digest({", ".join(COMBO_COLUMNS)}) FROM combos ORDER BY id;
CREATE TABLE records_v7 (
    id INTEGER PRIMARY KEY,
    report_pk INTEGER NOT NULL REFERENCES reports(pk) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    count INTEGER NOT NULL,
    envelope_from TEXT,
    envelope_to TEXT,
    combo_id INTEGER NOT NULL REFERENCES combos(id)
);
INSERT INTO records_v7 (id, report_pk, idx, count, envelope_from, envelope_to, combo_id)
    SELECT id, report_pk, idx, count, envelope_from, envelope_to, combo_id FROM records
    ORDER BY id;
DROP TABLE records;
DROP TABLE combos;
ALTER TABLE combos_v7 RENAME TO combos;
ALTER TABLE records_v7 RENAME TO records;
CREATE INDEX combos_digest ON combos(digest);
CREATE INDEX combos_ip_key ON combos(ip_key);
CREATE INDEX records_combo ON records(combo_id, report_pk);
CREATE INDEX records_report ON records(report_pk, idx, combo_id, count)
"""
"""Version 7: a record keeps only what is its own (report, position, count, envelope) and its
combination; what it shares with the other records of that combination (source, From,
evaluation, auth results) is read from ``combos``, which also holds the source's ``ip_key``.
Records repeat a few thousand combinations: the index of the synthetic 10,000 messages went
from 102-107 MB to 53 MB. A combination is found again by a 64-bit digest of its columns
(:func:`combo_digest`, then its columns compared), no longer by a unique index over all eight:
at 192,343 combinations that index outgrew the writer's page cache and its inserts took a sixth
of a cold scan of 100,000 messages. Rebuilt with foreign keys off, as SQLite documents for a
change of a table's constraints (:func:`_check_and_migrate`)."""


SOURCE_COMBOS = "{alias}ip_key IS ? AND {alias}source_ip = ?"
"""The combinations of one source spelling, given its :func:`ip_key` and the spelling: found by
``combos_ip_key`` (``IS`` matches a source without a key too)."""


def combo_digest(*columns: str) -> int:
    """A combination's 64-bit digest (a signed SQLite integer), stable across runs and
    versions. Equal digests do not make equal combinations: the columns are compared too."""
    text = "\x1f".join(columns).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def _migrate_6_to_7(conn: sqlite3.Connection) -> None:
    """Narrow records, after making the indexes a killed first build left dropped: theirs are
    the wide table's (``records_ip_key`` has no column to index any more)."""
    restore_deferred_indexes(conn)
    _script(_V7)(conn)


def _give_back_space(conn: sqlite3.Connection) -> None:
    """After narrowing the records (version 7), shrink the file when more than a third of it
    is free pages: the wide table's pages stay in the file otherwise, which then holds both
    tables' worth until new mail fills them."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    if pages and free * 3 > pages:
        conn.execute("VACUUM")


DEFERRED_KEY = "deferred_indexes"
"""Meta key holding the indexes a first build dropped, until they are made again: a build that
is killed leaves them there, and the next update makes them before anything else."""


def restore_deferred_indexes(conn: sqlite3.Connection) -> None:
    """Make the indexes a first build dropped (:data:`DEFERRED_KEY`) that are not there."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (DEFERRED_KEY,)).fetchone()
    if row is None:
        return
    existing = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    for name, sql in json.loads(row[0]):
        if name not in existing:
            conn.execute(sql)
    conn.execute("DELETE FROM meta WHERE key = ?", (DEFERRED_KEY,))


Migration = Callable[[sqlite3.Connection], None]


def _script(sql: str) -> Migration:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";\n"):
            if statement.strip():
                conn.execute(statement)

    return run


MIGRATIONS: tuple[Migration, ...] = (
    _script(_V1), _script(_V2), _script(_V3), _script(_V4), _script(_V5), _migrate_5_to_6,
    _migrate_6_to_7,
)  # fmt: skip
"""``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``."""
SCHEMA_VERSION = len(MIGRATIONS)


def connect(
    path: Path | None,
    *,
    target: int = SCHEMA_VERSION,
    on_migrate: Callable[[str], None] | None = None,
) -> sqlite3.Connection:
    """Open (creating if needed) the index at ``path``, or in memory when ``path`` is None.

    ``on_migrate`` is told, in one line, when an existing index is upgraded to a newer schema.

    Raises:
        IndexStoreError: the file is not a SQLite database, belongs to another application, or
            was written by a newer dmarctui. Nothing is written to it in those cases.
    """
    where = str(path) if path is not None else ":memory:"
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise IndexStoreError(f"cannot create {path.parent}: {exc.strerror or exc}") from None
    try:
        conn = sqlite3.connect(where, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise IndexStoreError(f"cannot open index {where}: {exc}") from None
    try:
        _check_and_migrate(conn, where, target, on_migrate)
    except BaseException:
        conn.close()
        raise
    return conn


def file_identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of a file: which file a path names now (None when it names none)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def check_same_file(path: Path, identity: tuple[int, int] | None) -> None:
    """Raise when ``path`` no longer names the file ``identity`` (:func:`file_identity`) was
    taken of: the index was deleted, or deleted and built again, while it was open.

    Raises:
        IndexStoreError: it names another file, or none.
    """
    if identity is not None and file_identity(path) != identity:
        raise IndexStoreError(
            f"{path}: no longer the index opened (deleted or replaced meanwhile); open the"
            " folder again"
        )


def connect_reader(
    path: Path, identity: tuple[int, int] | None = None, spill: bool = False
) -> sqlite3.Connection:
    """Another connection to the open index at ``path``, for reading only (a count's second
    half): it never creates, migrates or writes the file, so an index deleted meanwhile is an
    error rather than an empty new one counted as if it were the index; and with ``identity``
    (:func:`file_identity` of the file first opened), so is another index put in its place.
    ``spill`` keeps its temporary tables in files rather than in memory.

    Raises:
        IndexStoreError: the file is gone or replaced, or is not this version's dmarctui index.
    """
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
            isolation_level=None,
        )  # fmt: skip
        try:
            check_same_file(path, identity)
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if app_id != APPLICATION_ID or version != SCHEMA_VERSION:
                raise IndexStoreError(f"{path}: no longer the index opened (replaced meanwhile)")
            conn.execute("PRAGMA cell_size_check = ON")
            conn.execute(f"PRAGMA temp_store = {'FILE' if spill else 'MEMORY'}")
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:
        raise IndexStoreError(f"cannot open index {path} again for reading: {exc}") from None
    return conn


PAGE_SIZE = 16384
"""Bytes per database page of a new index. Records are small rows written in long runs; with
16 KiB pages a cold scan stores them 15% faster than with SQLite's default 4 KiB."""


def _check_and_migrate(
    conn: sqlite3.Connection,
    where: str,
    target: int,
    on_migrate: Callable[[str], None] | None = None,
) -> None:
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise IndexStoreError(f"{where}: not a dmarctui index ({exc})") from None
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
        raise IndexStoreError(
            f"{where}: not a dmarctui index (a SQLite database of another program);"
            " choose another file with --db"
        )
    if version > SCHEMA_VERSION:
        raise IndexStoreError(
            f"{where}: written by a newer dmarctui (index schema {version}, this version reads"
            f" up to {SCHEMA_VERSION}); upgrade dmarctui or choose another file with --db"
        )
    conn.create_function("dmarctui_ip_key", 1, ip_key, deterministic=True)
    conn.create_function(
        "dmarctui_combo_digest", len(COMBO_COLUMNS), combo_digest, deterministic=True
    )
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cell_size_check = ON")  # damaged pages raise as soon as they are read
    try:
        if version == 0 and not tables:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # only takes on an empty file
        if where != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        if 0 < version < target and on_migrate is not None:
            on_migrate(
                f"upgrading the index {where} from schema {version} to {target}"
                " (once; large indexes take a while)"
            )
        # Foreign keys off while a step rebuilds tables (SQLite's documented way: a dropped
        # parent table would otherwise be emptied first), checked before each step commits.
        conn.execute("PRAGMA foreign_keys = OFF")
        for step in range(version, target):
            conn.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[step](conn)
                broken = conn.execute("PRAGMA foreign_key_check").fetchone()
                if broken is not None:
                    raise IndexStoreError(
                        f"{where}: cannot upgrade the index to schema {step + 1}: a row of"
                        f" {broken[0]} refers to a missing row of {broken[2]}; delete the file"
                        " and scan again"
                    )
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {step + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        conn.execute("PRAGMA foreign_keys = ON")
        if version < 7 <= target and version and where != ":memory:":
            _give_back_space(conn)
        # Triage's working tables; set after migrating, whose index builds then sort in
        # temporary files past the page cache (in memory they held every key: 290 MB at 1M
        # records).
        conn.execute("PRAGMA temp_store = MEMORY")
    except sqlite3.DatabaseError as exc:
        raise IndexStoreError(f"{where}: cannot use the index ({exc})") from None
