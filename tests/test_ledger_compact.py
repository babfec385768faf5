"""The index's ledger keeps little per report (a digest as bytes, a row key under the report id)
and writes what later messages change of earlier verdicts (copies, collision flags) from what it
noted on the way. Its verdict columns must equal those derived from the in-memory ledger, which
keeps every report's facts: after a cold build, after a replay that must clear stale flags and
counts, and after new mail continued the stored ledger."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from test_index_append import aggregate, changes, deliver, folder_messages, steps_of

from dmarctui.index import Index
from dmarctui.ledger import Accounts, MessageFacts, ReportFacts, digest_key
from dmarctui.scan import drain, run_scan

Verdicts = list[tuple[str, str, int, int, int, int]]


def verdicts(conn: sqlite3.Connection) -> Verdicts:
    """(message, part, is_first, counted, copies, collision) of every report row, in order."""
    return conn.execute(
        "SELECT m.key, r.part, r.is_first, r.counted, r.copies, r.collision FROM reports r"
        " JOIN messages m ON m.id = r.message_id ORDER BY m.seq, r.pk"
    ).fetchall()


def reference(folder: Path, conn: sqlite3.Connection) -> Verdicts:
    """The same columns as the code before derived them: from the in-memory ledger's first
    copies, uncounted reports and collisions, and a count of every row's content key."""
    ledger = run_scan(folder, None, workers=1).ledger
    firsts = {(found.message, found.part) for found in ledger.reports}
    in_collision = {c.first for c in ledger.collisions} | {c.second for c in ledger.collisions}
    rows = conn.execute(
        "SELECT m.key, r.part, r.content_key FROM reports r"
        " JOIN messages m ON m.id = r.message_id ORDER BY m.seq, r.pk"
    ).fetchall()
    copies = Counter(content_key for _, _, content_key in rows)
    expected = []
    for key, part, content_key in rows:
        ref = f"{key}#{part}"
        first = (key, part) in firsts
        expected.append(
            (
                key,
                part,
                int(first),
                int(first and ref not in ledger.uncounted),
                copies[content_key] - 1 if first else 0,
                int(ref in in_collision),
            )
        )
    return expected


def update(index: Index) -> None:
    drain(index.update(workers=1))


@pytest.fixture
def grown(corpus: Path, tmp_path: Path) -> Path:
    """The corpus's Maildir grown in steps: copies of every kind of message and report ids
    colliding in every way, the later ones arriving as new mail."""
    folder = tmp_path / "Maildir"
    delivered = 0
    deliver(folder, "maildir", [], 0)
    with Index.open(folder, db=tmp_path / "grown.sqlite3") as index:
        for step in steps_of(folder_messages(corpus / "mail" / "Maildir")):
            deliver(folder, "maildir", step, delivered)
            delivered += len(step)
            update(index)  # continues the stored ledger
            assert verdicts(index._conn) == reference(folder, index._conn)
    return folder


def test_cold_build_verdicts_equal_the_in_memory_ledger(grown: Path, tmp_path: Path) -> None:
    with Index.open(grown, db=tmp_path / "cold.sqlite3") as index:
        update(index)
        found = verdicts(index._conn)
        assert found == reference(grown, index._conn)
        assert {row[4] for row in found} >= {0, 1, 3}  # copies counted
        assert sum(row[5] for row in found) >= 6  # collision flags set
        assert any(row[2] and not row[3] for row in found)  # merged into another: not counted


@pytest.mark.parametrize("change", list(changes()))
def test_replay_clears_and_sets_verdicts_like_the_in_memory_ledger(
    grown: Path, tmp_path: Path, change: str
) -> None:
    db = tmp_path / "grown.sqlite3"
    changes()[change](grown)
    with Index.open(grown, db=db) as index:
        update(index)  # replays the whole ledger
        assert verdicts(index._conn) == reference(grown, index._conn)


def test_replay_after_copies_and_colliders_went(grown: Path, tmp_path: Path) -> None:
    """Stored copies and collision flags that no longer hold are cleared by the replay: a
    first copy whose only duplicate went, a first copy with copies, a report that collided."""
    with Index.open(grown, db=tmp_path / "grown.sqlite3") as index:
        conn = index._conn
        before = verdicts(conn)
        (only_copy,) = conn.execute(
            "SELECT m.key FROM reports r JOIN messages m ON m.id = r.message_id"
            " WHERE NOT r.is_first AND r.content_key IN"
            " (SELECT content_key FROM reports WHERE is_first AND copies = 1)"
            " ORDER BY m.seq DESC LIMIT 1"
        ).fetchone()
        flagged = [key for key, _, _, _, copies, collision in before if copies or collision]
        gone = {only_copy, flagged[0], flagged[-1]}
        for path in (grown / "cur").iterdir():
            if path.name.split(":")[0] in gone:
                path.unlink()
        update(index)
        after = verdicts(conn)
        assert after == reference(grown, conn)
        kept = [row for row in before if row[0] not in gone]
        assert len(after) == len(kept)
        cleared = [old for old, new in zip(kept, after, strict=True) if old[4:] > new[4:]]
        assert cleared  # copies or collision flags went down


def test_digest_key_keeps_distinct_texts_distinct() -> None:
    digest = "ab" * 32
    assert digest_key(digest) == bytes.fromhex(digest)
    others = [digest.upper(), digest[:-1], digest + "0", "zz" * 32, "", "r1"]
    assert [digest_key(text) for text in others] == others
    assert len({digest_key(text) for text in [digest, *others]}) == len(others) + 1


def test_a_report_id_seen_many_times_collides_with_each_earlier_copy() -> None:
    """Kept under its report id as one value, then as a list: every earlier first copy is
    compared, in folder order."""
    accounts = Accounts()
    for n in range(4):
        found = ReportFacts(
            f"m{n}", "1", None, f"{n:064x}", "same", "a@example.net", "org", 1, 2, f"r{n}", "p"
        )
        accounts.account(MessageFacts(f"m{n}", reports=(found,)))
    pairs = [(c.first, c.second) for c in accounts.collisions]
    assert pairs == [
        ("m0#1", "m1#1"),
        ("m0#1", "m2#1"), ("m1#1", "m2#1"),
        ("m0#1", "m3#1"), ("m1#1", "m3#1"), ("m2#1", "m3#1"),
    ]  # fmt: skip


def test_cold_build_of_a_copied_folder_equals(grown: Path, tmp_path: Path) -> None:
    """Accounted as written (first build) and replayed over the stored rows: the same."""
    copy = tmp_path / "copy"
    shutil.copytree(grown, copy)
    deliver(copy, "maildir", [aggregate("collide", email="third@example.net")], 10_000)
    with Index.open(copy, db=tmp_path / "copy.sqlite3") as index:
        update(index)
        built = verdicts(index._conn)
        index._conn.execute("DELETE FROM meta WHERE key = 'ledger'")
        update(index)  # replayed over the stored facts
        assert verdicts(index._conn) == built == reference(copy, index._conn)
