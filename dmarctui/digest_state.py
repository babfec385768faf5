"""Where each folder's last digest is remembered: user data, not the cache.

``$XDG_DATA_HOME/dmarctui/digests.sqlite3`` (beside the notice history) holds, per folder, when
the last digest ran and the :class:`~dmarctui.digest.Snapshot` it left. Deleting or rebuilding
the index therefore never makes old news new again.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dmarctui.digest import Snapshot
from dmarctui.history import default_history_path
from dmarctui.user_db import open_user_db

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE digests (
    folder TEXT PRIMARY KEY,
    ran_at INTEGER NOT NULL,
    snapshot TEXT NOT NULL
);
"""


class DigestStateError(Exception):
    """The digest state cannot be read or written; the message names the file."""


def default_state_path() -> Path:
    return default_history_path().parent / "digests.sqlite3"


@dataclass(frozen=True)
class LastDigest:
    ran_at: int
    snapshot: Snapshot


class DigestState:
    """Use :meth:`open` (a context manager)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    @contextmanager
    def open(cls, path: Path | None = None) -> Iterator[DigestState]:
        target = path or default_state_path()
        with open_user_db(target, _SCHEMA, SCHEMA_VERSION, DigestStateError, "digest state") as db:
            yield cls(db, target)

    def last(self, folder: Path) -> LastDigest | None:
        try:
            row = self._db.execute(
                "SELECT ran_at, snapshot FROM digests WHERE folder = ?", (_key(folder),)
            ).fetchone()
        except sqlite3.Error as exc:
            raise DigestStateError(f"{self.path}: cannot read: {exc}") from exc
        if row is None:
            return None
        try:
            return LastDigest(int(row[0]), Snapshot.from_json(json.loads(row[1])))
        except (ValueError, KeyError, TypeError) as exc:
            raise DigestStateError(
                f"{self.path}: the state of {folder} is damaged ({exc}); "
                "run with --since DATE to start again from that day"
            ) from exc

    def save(self, folder: Path, ran_at: int, snapshot: Snapshot) -> None:
        try:
            with self._db:
                self._db.execute(
                    "INSERT OR REPLACE INTO digests (folder, ran_at, snapshot) VALUES (?, ?, ?)",
                    (_key(folder), ran_at, json.dumps(snapshot.to_json(), ensure_ascii=False)),
                )
        except sqlite3.Error as exc:
            raise DigestStateError(f"{self.path}: cannot save: {exc}") from exc


def _key(folder: Path) -> str:
    return str(folder.expanduser().resolve())
