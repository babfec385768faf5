"""New mail continues the ledger from the stored verdicts: after every step of a folder that grows
(with copies of earlier reports and report-id collisions among the new messages), every verdict
and the bucket accounting equal a cold build of the folder as it is then. Anything else than new
mail after the rest replays the whole ledger, which stays the reference."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from mailbuild import BEGIN, DAY, Rec, aggregate_xml, report_mail, tls_json, write_mbox

from dmarctui import index_update
from dmarctui.demo import build_demo
from dmarctui.export import scan_to_dict
from dmarctui.index import Index
from dmarctui.index_append import Appender, ledger_state, stored_ledger_state
from dmarctui.mailstore import open_store
from dmarctui.scan import drain, run_scan
from dmarctui.synthetic import append_synthetic, build_synthetic

FORMATS = {"maildir": "Maildir", "mh": "MH", "mbox": "mbox"}


def accounts(conn: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every order-dependent verdict, by message key and in folder order (ids may differ)."""
    queries = {
        "messages": "SELECT key, bucket FROM messages ORDER BY seq",
        "reports": "SELECT m.key, r.part, r.content_key, r.is_first, r.counted, r.copies,"
        " r.collision FROM reports r JOIN messages m ON m.id = r.message_id ORDER BY m.seq, r.pk",
        "failures": "SELECT m.key, f.idx, f.digest, f.is_first FROM failures f"
        " JOIN messages m ON m.id = f.message_id ORDER BY m.seq, f.idx",
        "tls": "SELECT m.key, t.idx, t.digest, t.is_first FROM tls t"
        " JOIN messages m ON m.id = t.message_id ORDER BY m.seq, t.idx",
        "duplicates": "SELECT message, duplicate_of, why, report_id FROM duplicates ORDER BY id",
        "collisions": "SELECT report_id, first, second, reason, detail, counted_once"
        " FROM collisions ORDER BY id",
        "issues": "SELECT kind, message, reason, part, filename FROM issues ORDER BY kind, id",
        "buckets": "SELECT bucket, count(*) FROM messages GROUP BY bucket ORDER BY bucket",
    }
    found = {name: conn.execute(sql).fetchall() for name, sql in queries.items()}
    # The accounting invariant: every message lands in exactly one bucket.
    assert None not in dict(found["buckets"])
    assert sum(n for _, n in found["buckets"]) == len(found["messages"])
    return found


def cold(folder: Path, db: Path, fmt: str | None = None) -> dict[str, list[tuple[object, ...]]]:
    db.unlink(missing_ok=True)
    with Index.open(folder, fmt, db=db) as index:  # type: ignore[arg-type]
        drain(index.update(workers=1))
        return accounts(index._conn)


def deliver(folder: Path, fmt: str, messages: Sequence[bytes], start: int) -> None:
    """Deliver ``messages`` after those of ``folder``, numbered from ``start``."""
    if fmt == "maildir":
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        for n, raw in enumerate(messages, start):
            (folder / "cur" / f"{1_800_000_000 + n}.M{n:06d}P1Q{n}.mx1:2,S").write_bytes(raw)
    elif fmt == "mh":
        folder.mkdir(parents=True, exist_ok=True)
        for n, raw in enumerate(messages, start):
            (folder / str(n + 1)).write_bytes(raw)
    else:
        part = write_mbox(folder.parent / "part.mbox", messages)
        with folder.open("ab") as out:
            out.write(part.read_bytes())


def folder_messages(folder: Path) -> list[bytes]:
    store = open_store(folder)
    return [store.read(ref) for ref in store.refs()]


def aggregate(report_id: str, *records: Rec, **kw: object) -> bytes:
    xml = aggregate_xml(*(records or (Rec("192.0.2.1", 3),)), report_id=report_id, **kw)  # type: ignore[arg-type]
    return report_mail(xml, "gzip", filename=f"{report_id}.xml.gz")


def tls(report_id: str, successful: int) -> bytes:
    return report_mail(tls_json(report_id=report_id, successful=successful), "gzip")


def steps_of(messages: list[bytes]) -> list[list[bytes]]:
    """The folder's growth: a first part, then appended parts holding more of ``messages``,
    copies of earlier ones (some themselves appended) and reports colliding on their id
    with stored ones and with each other."""
    a, b = len(messages) // 3, 2 * len(messages) // 3
    first_copy = aggregate("collide")
    later_day = aggregate("collide", begin=BEGIN + DAY)  # only the date range differs
    return [
        messages[:a],
        [*messages[a:b], first_copy, tls("tls-1", 5)],
        [*messages[b:], later_day, messages[0], messages[a], tls("tls-1", 5)],
        [
            *messages,  # every kind of message again: all duplicates
            later_day,  # a copy of an appended first copy
            aggregate("collide", email="other@example.net"),  # another reporter
            aggregate("collide", Rec("192.0.2.9", 5)),  # other records
            aggregate("pair", Rec("192.0.2.2")),  # two new ones colliding with each other
            aggregate("pair", Rec("192.0.2.3")),
            tls("tls-1", 6),
        ],
        [later_day, first_copy, aggregate("pair", Rec("192.0.2.4"))],
    ]


def grow_and_compare(
    folder: Path, fmt: str, steps: list[list[bytes]], tmp_path: Path, replays: list[int]
) -> None:
    """Deliver the steps one by one; after each, the index equals a cold build."""
    delivered = 0
    deliver(folder, fmt, [], 0)  # an empty folder to open
    with Index.open(folder, fmt, db=tmp_path / "grown.sqlite3") as index:  # type: ignore[arg-type]
        for number, step in enumerate(steps):
            deliver(folder, fmt, step, delivered)
            delivered += len(step)
            stats = drain(index.update(workers=1))
            assert (stats.new, stats.changed, stats.gone) == (len(step), 0, 0)
            grown = accounts(index._conn)
            assert len(grown["messages"]) == delivered
            assert grown == cold(folder, tmp_path / f"cold{number}.sqlite3", fmt), f"step {number}"
            assert stored_ledger_state(index._conn) == ledger_state(index._conn)
        assert replays == []  # every step after the first continued the ledger
        assert scan_to_dict(index.scan_result()) == scan_to_dict(
            run_scan(folder, index.format, workers=1)
        )


@pytest.fixture
def replays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts full replays of the ledger."""
    calls: list[int] = []
    real = index_update.replay
    monkeypatch.setattr(index_update, "replay", lambda conn: calls.append(1) or real(conn))
    return calls


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_corpus_grown_in_steps_equals_a_cold_build(
    corpus: Path, tmp_path: Path, fmt: str, replays: list[int]
) -> None:
    messages = folder_messages(corpus / "mail" / FORMATS[fmt])
    assert len(messages) == 69
    folder = tmp_path / ("mbox" if fmt == "mbox" else "folder")
    steps = steps_of(messages)
    grow_and_compare(folder, fmt, steps, tmp_path, replays)
    with Index.open(folder, db=tmp_path / "grown.sqlite3") as index:
        conn = index._conn
        kinds = {reason for (reason,) in conn.execute("SELECT reason FROM collisions")}
        assert kinds == {"different_email", "date_range_only", "other"}
        assert conn.execute("SELECT max(copies) FROM reports").fetchone()[0] >= 3
        assert conn.execute("SELECT count(*) FROM failures WHERE NOT is_first").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM tls WHERE NOT is_first").fetchone()[0]


def test_demo_grown_in_steps_equals_a_cold_build(tmp_path: Path, replays: list[int]) -> None:
    demo = build_demo(tmp_path / "demo")
    messages = folder_messages(demo.maildir)
    grow_and_compare(tmp_path / "Maildir", "maildir", steps_of(messages), tmp_path, replays)


def test_synthetic_grown_in_steps_equals_a_cold_build(tmp_path: Path, replays: list[int]) -> None:
    messages = folder_messages(build_synthetic(tmp_path / "synthetic", 150))
    grow_and_compare(tmp_path / "MH", "mh", steps_of(messages), tmp_path, replays)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_new_synthetic_mail_continues_the_ledger(
    tmp_path: Path, fmt: str, replays: list[int]
) -> None:
    """As the bench appends mail: the folder's own naming puts new mail after the rest."""
    target = tmp_path / "synthetic"
    folder = build_synthetic(target, 120, fmt=fmt)  # type: ignore[arg-type]
    with Index.open(folder, db=tmp_path / "grown.sqlite3") as index:
        drain(index.update(workers=1))
        for number in range(3):
            append_synthetic(target, 30)
            assert drain(index.update(workers=1)).new == 30
            grown = accounts(index._conn)
            assert grown == cold(folder, tmp_path / f"cold{number}.sqlite3")
    assert replays == []


def changes() -> dict[str, Callable[[Path], None]]:
    def remove(folder: Path) -> None:
        sorted((folder / "cur").iterdir())[0].unlink()  # a first copy, with a copy later

    def insert_before(folder: Path) -> None:
        (folder / "cur" / "1000000000.M0P1Q0.mx1:2,S").write_bytes(aggregate("collide"))

    def rewrite(folder: Path) -> None:
        path = sorted((folder / "cur").iterdir())[1]
        path.write_bytes(aggregate("collide", Rec("192.0.2.77", 2)))

    return {"removed": remove, "inserted before": insert_before, "rewritten": rewrite}


@pytest.mark.parametrize("change", list(changes()))
def test_any_other_change_replays_the_ledger(
    tmp_path: Path, replays: list[int], change: str
) -> None:
    folder = tmp_path / "Maildir"
    messages = [aggregate("collide"), aggregate("collide", begin=BEGIN + DAY)]
    messages += [aggregate(f"r{n}", Rec(f"192.0.2.{n}")) for n in range(6)]
    deliver(folder, "maildir", [*messages, messages[0], messages[4]], 0)
    with Index.open(folder, db=tmp_path / "grown.sqlite3") as index:
        drain(index.update(workers=1))
        changes()[change](folder)
        drain(index.update(workers=1))
        assert accounts(index._conn) == cold(folder, tmp_path / "cold.sqlite3")
        assert replays == [1]


def test_an_update_stopped_before_its_accounting_is_replayed_next_time(
    tmp_path: Path, replays: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "Maildir"
    deliver(folder, "maildir", [aggregate("collide"), aggregate("a")], 0)
    db = tmp_path / "grown.sqlite3"
    with Index.open(folder, db=db) as index:
        drain(index.update(workers=1))
    deliver(folder, "maildir", [aggregate("collide", begin=BEGIN + DAY), aggregate("a")], 2)

    def killed(self: Appender, conn: sqlite3.Connection) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, Index.open(folder, db=db) as index:
        patch.setattr(Appender, "store", killed)
        with pytest.raises(KeyboardInterrupt):
            drain(index.update(workers=1))
    with Index.open(folder, db=db) as index:
        stats = drain(index.update(workers=1))
        assert (stats.new, stats.bodies_read) == (0, 0)  # the rows were written, not accounted
        assert replays == [1]
        assert accounts(index._conn) == cold(folder, tmp_path / "cold.sqlite3")
        # An index accounted by an older dmarctui (no ledger state stored) is replayed once.
        index._conn.execute("DELETE FROM meta WHERE key = 'ledger'")
        deliver(folder, "maildir", [aggregate("b")], 4)
        drain(index.update(workers=1))
        assert replays == [1, 1]
        deliver(folder, "maildir", [aggregate("a")], 5)
        drain(index.update(workers=1))
        assert replays == [1, 1]
        assert accounts(index._conn) == cold(folder, tmp_path / "cold2.sqlite3")
