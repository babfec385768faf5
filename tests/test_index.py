"""Incremental updates of the index: exact counts, no body read when nothing changed, and the
result always equal to a fresh in-memory scan of the folder as it is now."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from mailbuild import (
    BEGIN,
    DAY,
    Rec,
    aggregate_xml,
    plain_mail,
    report_mail,
    write_maildir,
    write_mbox,
    write_mh,
)

from dmarctui import index_update
from dmarctui.export import scan_to_dict
from dmarctui.index import Index, UpdateStats
from dmarctui.scan import drain, run_scan


def report(n: int, packaging: str | None = None, **kw: object) -> bytes:
    xml = aggregate_xml(
        Rec(f"192.0.2.{n % 250 + 1}", n + 1, dkim="fail" if n % 3 else "pass"),
        report_id=f"r{n}",
        begin=BEGIN + n * DAY,
        **kw,  # type: ignore[arg-type]
    )
    packaging = packaging or ("gzip" if n % 2 else "zip")
    return report_mail(xml, packaging, filename=f"r{n}.xml.gz")


def folder_state(path: Path) -> dict[str, tuple[bytes, int]]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


def update(index: Index, **kw: object) -> UpdateStats:
    return drain(index.update(**kw))  # type: ignore[arg-type]


def assert_equals_fresh_scan(index: Index) -> None:
    fresh = scan_to_dict(run_scan(index.folder, index.format, workers=1))
    assert scan_to_dict(index.scan_result()) == fresh


def counts(stats: UpdateStats) -> tuple[int, int, int, int, int]:
    return stats.new, stats.changed, stats.gone, stats.unchanged, stats.bodies_read


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    messages = [report(n) for n in range(6)] + [plain_mail(), report(2)]
    write_maildir(tmp_path / "dmarc", messages, new=[1, 6])
    return tmp_path / "dmarc"


def test_first_update_reads_everything_then_nothing(maildir: Path, tmp_path: Path) -> None:
    before = folder_state(maildir)
    thresholds = gc.get_threshold()
    with Index.open(maildir, db=tmp_path / "i.db") as index:
        assert not index.has_data()
        assert counts(update(index)) == (8, 0, 0, 0, 8)
        assert gc.get_threshold() == thresholds  # raised while writing, given back after
        assert index.has_data()
        assert index.buckets()["aggregate"] == 6
        assert index.buckets()["duplicate"] == 1
        assert index.buckets()["not_report"] == 1
        again = update(index)
        assert counts(again) == (0, 0, 0, 8, 0)
        assert again.bytes_read == 0
        assert_equals_fresh_scan(index)
    with Index.open(maildir, db=tmp_path / "i.db") as reopened:
        assert reopened.has_data()
        assert reopened.count_reports() == 6
        assert counts(update(reopened)) == (0, 0, 0, 8, 0)
    assert folder_state(maildir) == before


def test_add_remove_change_and_move(maildir: Path, tmp_path: Path) -> None:
    with Index.open(maildir, db=tmp_path / "i.db") as index:
        update(index)
        cur = sorted((maildir / "cur").iterdir())
        cur[0].write_bytes(report(20))  # r0 rewritten in place: another size
        cur[2].unlink()  # r3 deleted
        moved = sorted((maildir / "new").iterdir())[0]  # r1 read by another client
        moved.rename(maildir / "cur" / f"{moved.name}:2,S")
        (maildir / "new" / "1719900000.Mnew.mx1").write_bytes(report(9))
        stats = update(index)
        assert counts(stats) == (1, 1, 1, 6, 2)
        assert stats.moved == 1
        assert {r.report_id for r in index.reports_page()} == {"r20", "r1", "r2", "r4", "r5", "r9"}
        assert_equals_fresh_scan(index)
        # rows are written with foreign-key checks off; every reference must still hold, the
        # checks must be on again, and the gone message's rows must have been cascaded away
        conn = index._conn
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT count(*) FROM reports").fetchone() == (7,)


def test_deleted_first_copy_makes_the_duplicate_count(tmp_path: Path) -> None:
    folder = tmp_path / "dmarc"
    paths = write_maildir(folder, [report(1), report(2), report(1)])
    with Index.open(folder, db=tmp_path / "i.db") as index:
        update(index)
        assert [d.duplicate_of for d in index.duplicates()] == [paths[0].name.split(":")[0]]
        paths[0].unlink()
        stats = update(index)
        assert counts(stats) == (0, 0, 1, 2, 0)
        assert index.duplicates() == []
        rows = index.reports_page(sort="report_id", descending=False)
        assert [(r.report_id, r.message) for r in rows] == [
            ("r1", paths[2].name.split(":")[0]),
            ("r2", paths[1].name.split(":")[0]),
        ]
        assert_equals_fresh_scan(index)


def test_maildir_move_new_to_cur_is_the_same_message(tmp_path: Path) -> None:
    folder = tmp_path / "dmarc"
    write_maildir(folder, [report(1), report(2)], new=[0, 1])
    with Index.open(folder, db=tmp_path / "i.db") as index:
        update(index)
        for path in list((folder / "new").iterdir()):
            path.rename(folder / "cur" / f"{path.name}:2,S")
        stats = update(index)
        assert counts(stats) == (0, 0, 0, 2, 0)
        assert stats.moved == 2
        key = index.reports_page()[0].message
        assert index.message(key)[0].location.startswith("cur/")
        assert index.raw_message(key).startswith(b"From:") or b"Subject" in index.raw_message(key)


def test_mh_added_removed_and_rewritten(tmp_path: Path) -> None:
    folder = tmp_path / "mh"
    write_mh(folder, [report(n) for n in range(4)], mew=True)
    with Index.open(folder, db=tmp_path / "i.db") as index:
        assert counts(update(index)) == (4, 0, 0, 0, 4)
        (folder / "2").unlink()
        (folder / "5").write_bytes(report(5))
        (folder / "3").write_bytes(report(30))
        stats = update(index)
        assert counts(stats) == (1, 1, 1, 2, 2)
        assert index.count_reports() == 4
        assert_equals_fresh_scan(index)


def test_mbox_append_reads_only_the_new_bytes(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "dmarc.mbox", [report(n) for n in range(5)])
    with Index.open(mbox, db=tmp_path / "i.db") as index:
        assert counts(update(index)) == (5, 0, 0, 0, 5)
        unchanged = update(index)
        assert counts(unchanged) == (0, 0, 0, 5, 0)
        assert unchanged.bytes_read == 0
        size = mbox.stat().st_size
        appended = write_mbox(tmp_path / "tail.mbox", [report(7), report(1)]).read_bytes()
        with mbox.open("ab") as out:
            out.write(appended)
        stats = update(index)
        assert counts(stats) == (2, 0, 0, 5, 2)
        assert not stats.rewritten
        window = min(size, 4096) + min(size, 65536)
        assert stats.bytes_read == len(appended) + window
        assert index.buckets()["duplicate"] == 1
        assert_equals_fresh_scan(index)


def test_rewritten_mbox_is_listed_again(tmp_path: Path) -> None:
    mbox = write_mbox(tmp_path / "dmarc.mbox", [report(n, "textxml-7bit") for n in range(5)])
    with Index.open(mbox, db=tmp_path / "i.db") as index:
        update(index)
        write_mbox(mbox, [report(n, "textxml-7bit") for n in (0, 1, 3, 4)])  # 2 expunged
        stats = update(index)
        assert stats.rewritten
        # r0 and r1 keep their offset and content: not read again. r3 and r4 moved to other
        # offsets: read again (as changed where an old message started at the same offset).
        assert (stats.unchanged, stats.bodies_read) == (2, 2)
        assert (stats.new + stats.changed, stats.gone + stats.changed) == (2, 3)
        assert index.count_reports() == 4
        assert_equals_fresh_scan(index)
        same_size = mbox.read_bytes().replace(b"<report_id>r4<", b"<report_id>r5<")
        mbox.write_bytes(same_size)
        stats = update(index)
        assert stats.rewritten
        assert counts(stats) == (0, 1, 0, 3, 1)
        assert {r.report_id for r in index.reports_page()} == {"r0", "r1", "r3", "r5"}
        assert_equals_fresh_scan(index)


def test_parallel_index_equals_serial(tmp_path: Path) -> None:
    messages = [report(n) for n in range(45)] + [report(3), plain_mail(), b"garbage\r\n\r\n"]
    folder = tmp_path / "dmarc"
    write_maildir(folder, messages)
    before = folder_state(folder)
    with Index.open(folder, db=tmp_path / "serial.db") as serial:
        update(serial, workers=1)
        with Index.open(folder, db=tmp_path / "parallel.db") as parallel:
            stats = update(parallel, workers=2)
            assert stats.bodies_read == len(messages)
            assert scan_to_dict(parallel.scan_result()) == scan_to_dict(serial.scan_result())
            page = dict(sort="org_name", offset=3, limit=20)
            assert parallel.reports_page(**page) == serial.reports_page(**page)  # type: ignore[arg-type]
    assert folder_state(folder) == before


def test_cancel_keeps_a_consistent_partial_index(maildir: Path, tmp_path: Path) -> None:
    import threading

    cancel = threading.Event()
    cancel.set()
    with Index.open(maildir, db=tmp_path / "i.db") as index:
        stats = update(index, cancel=cancel)
        assert stats.cancelled
        assert index.scan_result().cancelled
        resumed = update(index)
        assert resumed.new == 8 - stats.bodies_read
        assert not index.scan_result().cancelled
        assert_equals_fresh_scan(index)


def test_mbox_message_still_being_written_is_read_again_in_full(tmp_path: Path) -> None:
    """The last message was half-delivered at the previous update: no error, the whole is read."""
    from mailbuild import aggregate_xml, report_mail

    from dmarctui.index import Index
    from dmarctui.scan import drain

    whole = b"From dmarc@example.net Mon Jul  1 00:00:00 2024\n" + report_mail(
        aggregate_xml(report_id="half")
    )
    first = b"From dmarc@example.net Mon Jul  1 00:00:00 2024\n" + report_mail(aggregate_xml())
    mbox = tmp_path / "mbox"
    mbox.write_bytes(first + b"\n" + whole[: len(whole) // 2])
    db = tmp_path / "i.sqlite3"
    with Index.open(mbox, "mbox", db=db) as index:
        drain(index.update(workers=1))
    with mbox.open("ab") as out:
        out.write(whole[len(whole) // 2 :] + b"\n")
    with Index.open(mbox, "mbox", db=db) as index:
        stats = drain(index.update(workers=1))
        assert index.buckets()["aggregate"] == 2
        assert stats.rewritten


def test_overlapping_updates_run_one_after_the_other(
    maildir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TUI cancels a running update and starts the next at once, on one connection: the
    next one waits for the first to stop, then finds what the first wrote (no message twice),
    its deletions cascade, and the collector thresholds come back when both are done."""
    monkeypatch.setattr(index_update, "PROGRESS_EVERY", 0.0)  # a progress step per message
    thresholds = gc.get_threshold()
    with Index.open(maildir, db=tmp_path / "i.db") as index:
        update(index, workers=1)
        conn = index._conn
        for n in range(10, 13):
            (maildir / "cur" / f"17190000{n}.M{n}.mx1:2,S").write_bytes(report(n))
        cancel = threading.Event()
        first = index.update(cancel=cancel, workers=1)
        next(first)  # paused between two writes, one new message pending
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        sorted((maildir / "cur").iterdir())[0].unlink()
        cancel.set()
        results: list[UpdateStats] = []
        second = threading.Thread(target=lambda: results.append(update(index, workers=1)))
        second.start()
        second.join(0.5)
        assert second.is_alive() and not results  # waiting for the first to stop
        assert drain(first).cancelled  # type: ignore[arg-type]
        second.join(10)
        (stats,) = results
        assert stats.gone == 1 and stats.new == 2  # the first had written one of the three
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert gc.get_threshold() == thresholds
        assert_equals_fresh_scan(index)
