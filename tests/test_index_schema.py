"""The index file: location, migration from the first schema, and refusal of files it must not
touch (foreign, corrupt, newer, another folder's)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from mailbuild import Rec, aggregate_xml, report_mail, write_maildir

from dmarctui.index import Index, IndexStoreError, default_db_path
from dmarctui.index_schema import MIGRATIONS, PAGE_SIZE, SCHEMA_VERSION, connect
from dmarctui.scan import drain


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    xml = aggregate_xml(Rec("192.0.2.10", 3), Rec("2001:db8::25", 2, dkim="fail", spf="fail"))
    write_maildir(tmp_path / "dmarc", [report_mail(xml)])
    return tmp_path / "dmarc"


def test_default_location_is_one_file_per_folder_in_the_cache(folder: Path, tmp_path: Path) -> None:
    path = default_db_path(folder)
    cache = Path.home() / ".cache"  # conftest points XDG_CACHE_HOME there
    assert path.parent == cache / "dmarctui"
    assert path.name.startswith("dmarc-") and path.suffix == ".sqlite3"
    assert default_db_path(tmp_path / "other" / "dmarc") != path
    with Index.open(folder) as index:
        drain(index.update())
        assert index.db_path == path
    assert path.is_file()
    assert not any(p.name.endswith(".sqlite3") for p in folder.rglob("*"))


def test_migration_from_the_first_schema_keeps_data(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Index.open(folder, db=db) as index:
        drain(index.update())
        expected = index.reports_page()
    # Build a version-1 file holding the same data, as the first release wrote it.
    conn = connect(tmp_path / "v1.db", target=1)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert (
        conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ptr_cache'").fetchone()[0]
        == 0
    )
    conn.execute("ATTACH DATABASE ? AS new", (str(db),))
    for table in ("meta", "messages", "reports", "failures", "tls", "problems", "duplicates"):
        conn.execute(f"INSERT INTO {table} SELECT * FROM new.{table}")
    columns = [r[1] for r in conn.execute("PRAGMA table_info(records)")]
    conn.execute(
        f"INSERT INTO records ({', '.join(columns)}) SELECT {', '.join(columns)} FROM new.records"
    )
    conn.commit()
    conn.execute("DETACH DATABASE new")
    conn.close()

    with Index.open(folder, db=tmp_path / "v1.db") as migrated:
        assert migrated.reports_page() == expected
        assert [row.records for row, _ in migrated.records_for_source("2001:db8::/32")] == [2]
        assert len(migrated.records_for_source("192.0.2.0/24")) == 1
        migrated.put("192.0.2.10", "mx.example.org", 1.5)
        assert migrated.get("192.0.2.10") == ("mx.example.org", 1.5, False)  # not confirmed
        assert drain(migrated.update()).bodies_read == 0
    conn = sqlite3.connect(tmp_path / "v1.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
    conn.close()


def test_newer_index_is_refused_and_left_untouched(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA application_id = 1145918531")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("CREATE TABLE future (x)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(IndexStoreError, match="newer dmarctui") as err:
        Index.open(folder, db=db)
    assert str(db) in str(err.value) and "\n" not in str(err.value)
    assert db.read_bytes() == before


def test_corrupt_file_gives_a_clear_error(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"this is not a database at all\n" * 100)
    with pytest.raises(IndexStoreError, match="not a dmarctui index"):
        Index.open(folder, db=db)
    assert db.read_bytes() == b"this is not a database at all\n" * 100


def test_foreign_sqlite_file_is_refused(folder: Path, tmp_path: Path) -> None:
    db = tmp_path / "places.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE bookmarks (url TEXT)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(IndexStoreError, match="another program"):
        Index.open(folder, db=db)
    assert db.read_bytes() == before


def test_index_of_another_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    write_maildir(tmp_path / "other", [])
    with Index.open(folder, db=tmp_path / "i.db") as index:
        drain(index.update())
    with pytest.raises(IndexStoreError, match="belongs to"):
        Index.open(tmp_path / "other", db=tmp_path / "i.db")


def test_index_inside_the_mail_folder_is_refused(folder: Path) -> None:
    with pytest.raises(IndexStoreError, match="inside the mail folder"):
        Index.open(folder, db=folder / "index.db")
    assert not (folder / "index.db").exists()


def test_new_indexes_get_large_pages_and_old_ones_keep_theirs(folder: Path, tmp_path: Path) -> None:
    with Index.open(folder, db=tmp_path / "new.db") as index:
        drain(index.update())
        assert index._conn.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("PRAGMA page_size = 4096")
    old.execute("CREATE TABLE t (x)")  # a file with pages already laid out
    old.execute("DROP TABLE t")
    old.close()
    with Index.open(folder, db=tmp_path / "old.db") as index:
        drain(index.update())
        assert index._conn.execute("PRAGMA page_size").fetchone() == (4096,)
        assert index.count_reports() > 0
