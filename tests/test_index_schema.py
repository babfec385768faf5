"""The index file: location, migration from the first schema, and refusal of files it must not
touch (foreign, corrupt, newer, another folder's)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from mailbuild import Rec, aggregate_xml, report_mail, write_maildir

from dmarctui.index import Index, IndexStoreError, default_db_path
from dmarctui.index_schema import COMBO_COLUMNS, MIGRATIONS, PAGE_SIZE, SCHEMA_VERSION, connect
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
    conn.execute(  # schema 1's wide records: a current record joined to its combination
        f"INSERT INTO records ({', '.join(columns)}) SELECT"
        f" {', '.join(('c.' if c in COMBO_COLUMNS else 'x.') + c for c in columns)}"
        " FROM new.records x JOIN new.combos c ON c.id = x.combo_id"
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


def test_an_index_of_schema_6_is_narrowed_and_answers_the_same(tmp_path: Path) -> None:
    """Schema 7 keeps in a record only what is its own; an index written before gets the narrow
    table once, with every answer as before, and the space the wide one held given back."""
    from old_schemas import back_to_schema_6
    from test_index_triage import PTRS, assert_same, write_reports
    from triage_scenarios import campus_config, campus_reports

    from dmarctui.index_export import aggregate_reports
    from dmarctui.index_queries import ReportFilter

    folder = write_reports(tmp_path / "Maildir", campus_reports())
    db = tmp_path / "index.sqlite3"

    def answers(index: Index) -> tuple[object, ...]:
        return (
            index.reports_page(),
            index.records_for_source("2001:db8::/32"),
            index.records_for_source("192.0.2.0/24"),
            index.source_records_page("192.0.2.0/24", offset=1, limit=3),
            index.source_totals("192.0.2.0/24"),
            index.daily_totals("192.0.2.70"),
            index.reports_page(ReportFilter(source="2001:db8::/32", disposition="none")),
            list(aggregate_reports(index._conn, ReportFilter())),
            index.triage(campus_config(), PTRS).findings(),
        )

    with Index.open(folder, db=db) as index:
        drain(index.update(workers=1))
        expected = answers(index)
    conn = sqlite3.connect(db)
    back_to_schema_6(conn)
    # and as a first build killed after dropping its indexes left it
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'reports_content'").fetchone()
    conn.execute("DROP INDEX reports_content")
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('deferred_indexes', ?)",
        (json.dumps([["reports_content", sql[0]]]),),
    )
    conn.commit()
    wide = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    conn.close()
    assert {"source_ip", "header_from", "auth_dkim", "ip_key"} <= wide

    with Index.open(folder, db=db) as index:
        assert index.notices == [
            f"upgrading the index {db} from schema 6 to {SCHEMA_VERSION}"
            " (once; large indexes take a while)"
        ]
        assert answers(index) == expected
        assert assert_same(index, campus_config(), PTRS) == 12
        assert drain(index.update(workers=1)).bodies_read == 0
        conn = index._conn
        narrow = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
        assert narrow == {"id", "report_pk", "idx", "count", "envelope_from", "envelope_to",
                          "combo_id"}  # fmt: skip
        names = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert {"reports_content", "records_report", "records_combo", "combos_ip_key"} <= names
        assert (
            conn.execute("SELECT count(*) FROM meta WHERE key = 'deferred_indexes'").fetchone()[0]
            == 0
        )
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
