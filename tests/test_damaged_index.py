"""A damaged index or a full disk is one line saying what to do (issue 11, item 11).

Pages damaged behind an intact header used to give ``sqlite3.DatabaseError`` tracebacks in
every command. Now each command exits 2 with one line naming the file, and the damaged file
is left as it was.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from dmarctui import index_schema
from dmarctui.cli import main
from tests.mailbuild import Rec, aggregate_xml, report_mail, write_maildir

COMMANDS = [
    ["scan"],
    ["flagged", "--no-dns"],
    ["readiness", "--no-dns"],
    ["extract", "--out", "OUT"],
]


def _folder(tmp_path: Path) -> Path:
    messages = [
        report_mail(
            aggregate_xml(
                *(Rec(source_ip=f"198.51.{n % 250}.{i}", dkim="fail") for i in range(1, 40)),
                report_id=f"r{n}",
            )
        )
        for n in range(60)
    ]
    write_maildir(tmp_path / "Maildir", messages)
    return tmp_path / "Maildir"


def _damage(db: Path) -> None:
    data = bytearray(db.read_bytes())
    rng = random.Random(11)
    page = index_schema.PAGE_SIZE
    for number in range(2, len(data) // page):  # every page but the header page
        start = number * page + 100
        data[start : start + 400] = rng.randbytes(400)
    db.write_bytes(bytes(data))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_damaged_index_is_one_line_and_left_alone(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    db = tmp_path / "index.sqlite"
    assert main(["scan", str(folder), "--db", str(db)]) == 0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _damage(db)
    before = _sha(db)
    capsys.readouterr()
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    assert main([argv[0], str(folder), "--db", str(db), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"the index {db} is damaged" in err
    assert "rebuild it with --db NEW, or delete" in err
    assert _sha(db) == before


def test_a_full_disk_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    real_connect = index_schema.connect

    def small_disk(path: Path | None, **options: object) -> sqlite3.Connection:
        conn = real_connect(path, **options)  # type: ignore[arg-type]
        conn.execute("PRAGMA max_page_count = 12")  # SQLite's own "database or disk is full"
        return conn

    monkeypatch.setattr("dmarctui.index.connect", small_disk)
    db = tmp_path / "index.sqlite"
    assert main(["scan", str(folder), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"cannot write the index {db}: database or disk is full; free some space" in err


def test_a_query_dmarctui_gets_wrong_is_not_blamed_on_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong query (a bug) is one line asking for a report, not advice to delete the index."""
    folder = _folder(tmp_path)
    db = tmp_path / "index.sqlite"
    assert main(["scan", str(folder), "--db", str(db)]) == 0

    def wrong(*args: object) -> None:
        raise sqlite3.ProgrammingError("Incorrect number of bindings supplied")

    monkeypatch.setattr("dmarctui.index_summary.summary", wrong)
    capsys.readouterr()
    assert main(["scan", str(folder), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "wrong query on the index" in err and "please report this" in err
    assert "damaged (" not in err and "delete" not in err
