"""Round three of the scan's fast paths: a first build's in-stream ledger equals the replay."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dmarctui import index_update
from dmarctui.index import Index
from dmarctui.index_replay import replay
from dmarctui.scan import drain

VERDICTS = {
    "messages": "id, bucket",
    "reports": "pk, is_first, counted, copies, collision",
    "failures": "id, is_first",
    "tls": "id, is_first",
    "duplicates": "message, duplicate_of, why, report_id",
    "collisions": "report_id, first, second, reason, detail, counted_once",
    "issues": "kind, message, reason, part, filename",
}


def _verdicts(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: conn.execute(f"SELECT {columns} FROM {table} ORDER BY rowid").fetchall()
        for table, columns in VERDICTS.items()
    }


@pytest.mark.parametrize("fmt", ["Maildir", "MH", "mbox"])
def test_first_build_accounts_as_it_writes_like_the_replay(
    corpus: Path, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    replays: list[int] = []
    real_replay = index_update.replay
    monkeypatch.setattr(index_update, "replay", lambda conn: replays.append(1) or real_replay(conn))
    with Index.open(corpus / "mail" / fmt, db=tmp_path / "index.sqlite3") as index:
        stats = drain(index.update(workers=1))
        assert stats.new == 69
        assert replays == []  # the first build did not read its facts back
        conn = index._conn
        streamed = _verdicts(conn)
        counts = {table: len(rows) for table, rows in streamed.items()}
        assert counts["duplicates"] == 4
        assert counts["collisions"] == 6
        buckets = dict(conn.execute("SELECT bucket, count(*) FROM messages GROUP BY bucket"))
        assert buckets == {
            "aggregate": 43, "failure": 5, "tls": 5, "duplicate": 3, "not_report": 5, "error": 8,
        }  # fmt: skip
        first = conn.execute("SELECT count(*) FROM reports WHERE is_first").fetchone()[0]
        assert first == 45
        conn.execute("BEGIN IMMEDIATE")
        replay(conn)  # the replay over the stored facts changes nothing
        conn.execute("COMMIT")
        assert _verdicts(conn) == streamed


def test_an_update_of_a_built_index_still_replays(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "index.sqlite3"
    folder = corpus / "mail" / "Maildir"
    with Index.open(folder, db=db) as index:
        drain(index.update(workers=1))
        index._conn.execute("DELETE FROM messages WHERE id = (SELECT max(id) FROM messages)")
    replays: list[int] = []
    real_replay = index_update.replay
    monkeypatch.setattr(index_update, "replay", lambda conn: replays.append(1) or real_replay(conn))
    with Index.open(folder, db=db) as index:
        stats = drain(index.update(workers=1))
        assert (stats.new, stats.unchanged) == (1, 68)
        assert replays == [1]
        buckets = dict(index._conn.execute("SELECT bucket, count(*) FROM messages GROUP BY bucket"))
        assert sum(buckets.values()) == 69
        assert buckets["duplicate"] == 3


def test_header_parameters_equal_the_feed_parsers_and_follow_header_changes(corpus: Path) -> None:
    from email import policy
    from email.parser import BytesParser

    from dmarctui.lazy_headers import parse_message_lazily

    asked = 0
    for path in sorted((corpus / "mail" / "Maildir").glob("*/*")):
        raw = path.read_bytes()
        lazy = list(parse_message_lazily(raw).walk())
        plain = list(BytesParser(policy=policy.default).parsebytes(raw).walk())
        assert len(lazy) == len(plain)
        for mine, theirs in zip(lazy, plain, strict=True):
            for _ in range(2):  # the second ask is answered from the cache
                for name in ("charset", "boundary", "name", "report-type"):
                    assert mine.get_param(name) == theirs.get_param(name)
                    asked += 1
                assert mine.get_filename() == theirs.get_filename()
                assert mine.get_params() == theirs.get_params()
    assert asked > 1000
    message = parse_message_lazily(b"Content-Type: text/plain; charset=latin-1\n\nhi\n")
    assert message.get_param("charset") == "latin-1"
    params = message.get_params(unquote=False)
    assert params is not None
    params.clear()  # a caller's list is its own
    assert message.get_param("charset") == "latin-1"
    message.set_param("charset", "utf-8")
    assert message.get_param("charset") == "utf-8"
    message.replace_header("Content-Type", "text/html")
    assert message.get_param("charset") is None
    assert message.get_param("charset", "none") == "none"
    del message["Content-Type"]
    assert message.get_params() is None
