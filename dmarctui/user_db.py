"""The small SQLite files kept in the user's data folder beside the notice history.

Decisions and the digest's memory must survive an index rebuild, so they live in user data,
not in the cache. Both are opened the same way: created on first use with their schema,
refused when unreadable or written by a newer dmarctui.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def open_user_db(
    target: Path, schema: str, version: int, error: type[Exception], what: str
) -> Iterator[sqlite3.Connection]:
    """Open (creating if needed) ``target``; ``what`` names it in errors ("decisions").

    Raises:
        error: the file cannot be created or read, is not such a database, or a newer
            dmarctui wrote it.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(target)
    except (OSError, sqlite3.Error) as exc:
        raise error(f"{target}: cannot open the {what}: {exc}") from exc
    try:
        try:
            found = db.execute("PRAGMA user_version").fetchone()[0]
            if found == 0:
                with db:
                    db.executescript(schema)
                    db.execute(f"PRAGMA user_version = {version}")
        except sqlite3.DatabaseError as exc:
            raise error(f"{target}: not a {what} database: {exc}") from exc
        if found > version:
            raise error(f"{target}: {what} of schema {found}, written by a newer dmarctui")
        yield db
    finally:
        db.close()
