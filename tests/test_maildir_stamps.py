"""A command's update trusts a Maildir directory whose stamp did not change since the last
update: its files are listed without a stat. Everything that changes a directory (new mail, a
message removed, moved from new/ to cur/, its flags changed, a file replaced under its name) is
still found, and the result equals a fresh scan; only a file rewritten in place, which Maildir
forbids, goes unseen until the hourly full listing or an update that does not trust stamps."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from mailbuild import write_maildir
from test_index import assert_equals_fresh_scan, counts, report, update

from dmarctui import index_update
from dmarctui.index import Index

_ticks = iter(range(1, 1_000_000))


def changed(directory: Path) -> None:
    """Give ``directory`` an mtime of its own, as a change one clock tick later would: the
    test does not wait for the file system's clock to move on."""
    when = 1_600_000_000 + next(_ticks)
    os.utime(directory, (when, when))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(index_update, "SETTLED_NS", 0)  # stamps of a folder made just now
    folder = tmp_path / "Maildir"
    write_maildir(folder, [report(n) for n in range(5)], new=[4])
    changed(folder / "cur")
    changed(folder / "new")
    return folder


def quick(index: Index) -> tuple[int, int, int, int, int]:
    return counts(update(index, trust_stamps=True))


def stamps(index: Index) -> dict[str, object]:
    row = index._conn.execute("SELECT value FROM meta WHERE key = 'maildir_stamps'").fetchone()
    return {} if row is None else json.loads(row[0])


def cur(folder: Path, n: int) -> Path:
    return sorted((folder / "cur").iterdir())[n]


def test_a_file_rewritten_in_place_is_unseen_until_a_full_listing(
    folder: Path, tmp_path: Path
) -> None:
    """Proves the files of an unchanged directory are not stat'ed, and bounds what it costs."""
    with Index.open(folder, db=tmp_path / "i.db") as index:
        assert quick(index) == (5, 0, 0, 0, 5)
        assert set(stamps(index)) == {"new", "cur", "full"}
        cur(folder, 0).write_bytes(report(20))  # in place: no directory changes
        assert quick(index) == (0, 0, 0, 5, 0)
        assert counts(update(index)) == (0, 1, 0, 4, 1)  # not trusting stamps: seen
        assert_equals_fresh_scan(index)
        cur(folder, 1).write_bytes(report(21))
        state = stamps(index)
        state["full"] = float(state["full"]) - index_update.FULL_LISTING_EVERY  # type: ignore[arg-type]
        index._conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'maildir_stamps'", (json.dumps(state),)
        )
        assert quick(index) == (0, 1, 0, 4, 1)  # an hour after the last full listing: seen
        assert_equals_fresh_scan(index)


@pytest.fixture
def full_listings(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts updates that compared a listing of the whole folder with every stored message."""
    calls: list[int] = []
    real = index_update._diff
    monkeypatch.setattr(index_update, "_diff", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    return calls


def test_new_mail_in_new_is_found_while_cur_is_trusted(
    folder: Path, tmp_path: Path, full_listings: list[int]
) -> None:
    with Index.open(folder, db=tmp_path / "i.db") as index:
        quick(index)
        assert full_listings == [1]
        (folder / "new" / "1719900000.Mnew.mx1").write_bytes(report(9))
        changed(folder / "new")
        assert quick(index) == (1, 0, 0, 5, 1)
        assert_equals_fresh_scan(index)
        assert quick(index) == (0, 0, 0, 6, 0)
        assert full_listings == [1]  # new/ listed alone, nothing else compared


def test_flags_changed_moved_and_removed_are_found(folder: Path, tmp_path: Path) -> None:
    with Index.open(folder, db=tmp_path / "i.db") as index:
        quick(index)
        flagged = cur(folder, 0)
        flagged.rename(flagged.with_name(flagged.name.replace(":2,S", ":2,RS")))
        changed(folder / "cur")
        stats = update(index, trust_stamps=True)
        assert counts(stats) == (0, 0, 0, 5, 0)
        assert stats.moved == 1
        key = flagged.name.split(":")[0]
        assert index.message(key)[0].location.endswith(":2,RS")
        moved = next((folder / "new").iterdir())
        moved.rename(folder / "cur" / f"{moved.name}:2,S")
        cur(folder, 1).unlink()
        changed(folder / "new")
        changed(folder / "cur")
        stats = update(index, trust_stamps=True)
        assert (counts(stats), stats.moved) == ((0, 0, 1, 4, 0), 1)
        assert_equals_fresh_scan(index)


def test_a_file_replaced_under_its_name_is_read_again(folder: Path, tmp_path: Path) -> None:
    with Index.open(folder, db=tmp_path / "i.db") as index:
        quick(index)
        target = cur(folder, 2)
        spare = folder / "tmp" / "replacement"
        spare.write_bytes(report(30))
        os.replace(spare, target)  # a new file under the old name: the directory changes
        changed(folder / "cur")
        assert quick(index) == (0, 1, 0, 4, 1)
        assert {r.report_id for r in index.reports_page()} == {"r0", "r1", "r30", "r3", "r4"}
        assert_equals_fresh_scan(index)


def test_stamps_are_kept_only_when_settled_and_complete(tmp_path: Path) -> None:
    folder = tmp_path / "Maildir"
    write_maildir(folder, [report(n) for n in range(3)])  # changed just now
    with Index.open(folder, db=tmp_path / "i.db") as index:
        quick(index)
        assert set(stamps(index)) == {"full"}  # may change again within the clock's tick
        cur(folder, 0).write_bytes(report(20))
        assert quick(index) == (0, 1, 0, 2, 1)  # so nothing was trusted
        cancel = threading.Event()
        cancel.set()
        (folder / "new" / "1719900000.Mnew.mx1").write_bytes(report(9))
        update(index, trust_stamps=True, cancel=cancel)
        assert stamps(index) == {}


def rows(index: Index) -> list[tuple[object, ...]]:
    return index._conn.execute(
        "SELECT key, seq, location, size, mtime, bucket FROM messages ORDER BY seq"
    ).fetchall()


def assert_equals_cold(index: Index, tmp_path: Path) -> None:
    """Positions, locations, stamps of the files and buckets as a first build lists them."""
    db = tmp_path / "cold.db"
    db.unlink(missing_ok=True)
    with Index.open(index.folder, db=db) as cold:
        update(cold)
        assert rows(index) == rows(cold)
    assert_equals_fresh_scan(index)


@pytest.mark.parametrize(
    "name", ["1719900000.Mlater.mx1", "1719700000.Mearlier.mx1", "1719800001.M000001P4242Q1.mx1"]
)
def test_new_mail_after_before_or_beside_the_stored_messages(
    folder: Path, tmp_path: Path, name: str, full_listings: list[int]
) -> None:
    """Named after every stored message, it is appended; named before one, or like one in
    cur/ (a copy caught mid-move), the folder is listed in full and positions shift."""
    with Index.open(folder, db=tmp_path / "i.db") as index:
        quick(index)
        (folder / "new" / name).write_bytes(report(9))
        changed(folder / "new")
        stats = update(index, trust_stamps=True)
        assert (stats.new, stats.changed, stats.gone, stats.bodies_read) == (
            (0, 0, 0, 0) if "Q1." in name else (1, 0, 0, 1)
        )
        assert len(full_listings) == (1 if "later" in name else 2)
        assert_equals_cold(index, tmp_path)


def test_mail_left_in_new_and_mail_gone_from_new(folder: Path, tmp_path: Path) -> None:
    with Index.open(folder, db=tmp_path / "i.db") as index:
        quick(index)
        (folder / "new" / "1719900000.Ma.mx1").write_bytes(report(9))
        changed(folder / "new")
        assert quick(index) == (1, 0, 0, 5, 1)  # the one left in new/ is unchanged
        assert_equals_cold(index, tmp_path)
        for path in (folder / "new").iterdir():
            if "Ma" not in path.name:
                path.unlink()  # a message deleted from new/
        changed(folder / "new")
        assert quick(index) == (0, 0, 1, 5, 0)
        assert_equals_cold(index, tmp_path)


def test_a_directory_that_failed_to_list_is_not_trusted_afterwards(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A passing fault (EIO, a soft NFS mount's timeout) while listing ``new/`` skips its
    messages for that run only: its stamp is not kept, so the next run lists it again."""
    from dmarctui import mailstore

    real = mailstore._regular_files

    def failing_new(directory: Path, *rest: object) -> object:
        if directory.name == "new":
            raise mailstore.MailStoreError(f"cannot list {directory}: Input/output error")
        return real(directory, *rest)  # type: ignore[arg-type]

    with Index.open(folder, db=tmp_path / "i.db") as index:
        assert quick(index) == (5, 0, 0, 0, 5)
        with monkeypatch.context() as faulty:
            faulty.setattr(mailstore, "_regular_files", failing_new)
            changed(folder / "new")
            gone = quick(index)[2]
            assert gone == 1  # the message in new/ is not listed this time
            assert "new" not in stamps(index)
        assert quick(index)[0] == 1  # listed again once the fault has passed
        assert_equals_fresh_scan(index)


def test_a_stamp_is_judged_by_when_it_was_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing that takes longer than ``SETTLED_NS`` must not make a stamp taken before it
    look settled: a delivery in the same clock tick after the stamp would not show in it."""
    folder = tmp_path / "Maildir"
    write_maildir(folder, [report(n) for n in range(3)], new=[2])
    for sub in ("new", "cur"):  # changed (ctime) just now, a second before the stamps
        changed(folder / sub)
    from dmarctui import mailstore

    clock = [index_update.time.time_ns() + 1_000_000_000]
    monkeypatch.setattr(index_update.time, "time_ns", lambda: clock[0])
    listing = mailstore.MaildirStore.listing

    def slow_listing(*args: object, **kwargs: object) -> object:
        clock[0] += 3 * index_update.SETTLED_NS  # a listing of 100,000 files takes seconds
        return listing(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mailstore.MaildirStore, "listing", slow_listing)
    with Index.open(folder, db=tmp_path / "i.db") as index:
        update(index, trust_stamps=True)
        assert not {"new", "cur"} & set(stamps(index))


def test_a_clock_set_back_lists_every_file(folder: Path, tmp_path: Path) -> None:
    """The last full listing seemingly in the future (the clock was set back) is due now."""
    with Index.open(folder, db=tmp_path / "i.db") as index:
        assert quick(index) == (5, 0, 0, 0, 5)
        cur(folder, 0).write_bytes(report(20))  # in place: only a full listing sees it
        state = stamps(index)
        state["full"] = float(state["full"]) + 10 * index_update.FULL_LISTING_EVERY  # type: ignore[arg-type]
        index._conn.execute(
            "UPDATE meta SET value = ? WHERE key = 'maildir_stamps'", (json.dumps(state),)
        )
        assert quick(index) == (0, 1, 0, 4, 1)
        assert_equals_fresh_scan(index)


def test_the_index_answers_while_the_folder_is_listed(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing a large folder takes seconds (100,000 files to stat, or a network): the TUI's
    report list queries the index meanwhile, from another thread, and must not wait for it."""
    from dmarctui.mailstore import MaildirStore

    listing, release = threading.Event(), threading.Event()
    real = MaildirStore.listing

    def slow(self: MaildirStore, *args: object, **kwargs: object) -> object:
        listing.set()
        assert release.wait(10)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    with Index.open(folder, db=tmp_path / "i.db") as index:
        update(index)
        monkeypatch.setattr(MaildirStore, "listing", slow)
        scan = threading.Thread(target=update, args=(index,))
        scan.start()
        assert listing.wait(10)
        answered: list[int] = []
        reader = threading.Thread(target=lambda: answered.append(index.count_reports()))
        reader.start()
        reader.join(5)
        release.set()
        scan.join(10)
        assert answered == [5], "the report count waited for the listing"
