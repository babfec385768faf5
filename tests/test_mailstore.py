"""The mail folder is read exactly as it is, in a stable order, and never touched."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from mailbuild import (
    aggregate_xml,
    plain_mail,
    report_mail,
    write_maildir,
    write_mbox,
    write_mh,
)

from dmarctui.mailstore import (
    MailStoreError,
    MboxStore,
    MessageGone,
    open_store,
    read_message,
)

MESSAGES = [
    report_mail(aggregate_xml(report_id="r1"), "gzip"),
    plain_mail("Lunch on Friday", "From the kitchen: curry.\n>From the other kitchen: ramen.\n"),
    report_mail(aggregate_xml(report_id="r3"), "zip"),
]


def _folder(kind: str, root: Path) -> Path:
    if kind == "maildir":
        write_maildir(root / "Maildir", MESSAGES, new=[1])
        return root / "Maildir"
    if kind == "mh":
        write_mh(root / "MH", MESSAGES)
        return root / "MH"
    return write_mbox(root / "mbox", MESSAGES)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file and directory under root with its bytes and mtime."""
    state: dict[str, tuple[bytes, int]] = {}
    for path in [*sorted(root.rglob("*")), root]:
        data = path.read_bytes() if path.is_file() else b""
        state[str(path)] = (data, path.stat().st_mtime_ns)
    return state


@pytest.mark.parametrize("kind", ["maildir", "mh", "mbox"])
def test_format_is_detected_and_messages_read_back_byte_for_byte(tmp_path: Path, kind: str) -> None:
    store = open_store(_folder(kind, tmp_path))
    assert store.format == kind
    assert [store.read(ref) for ref in store.refs()] == MESSAGES


@pytest.mark.parametrize("kind", ["maildir", "mh", "mbox"])
def test_reading_everything_leaves_the_folder_untouched(tmp_path: Path, kind: str) -> None:
    folder = _folder(kind, tmp_path)
    before = _snapshot(tmp_path)
    store = open_store(folder)
    for ref in store.refs():
        store.read(ref)
        read_message(store.format, store.path, ref)
    assert _snapshot(tmp_path) == before


def test_forced_format_overrides_detection_and_mismatches_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MailStoreError, match="not a mail folder"):
        open_store(empty)
    assert list(open_store(empty, "mh").refs()) == []
    mh = _folder("mh", tmp_path)
    with pytest.raises(MailStoreError, match=r"not a Maildir \(no cur/ or new/ inside\)"):
        open_store(mh, "maildir")
    mbox = _folder("mbox", tmp_path)
    with pytest.raises(MailStoreError, match="is a file, not a maildir directory"):
        open_store(mbox, "maildir")
    with pytest.raises(MailStoreError, match="unknown folder format 'imap'"):
        open_store(mbox, "imap")  # type: ignore[arg-type]


def test_missing_path_error_is_one_line_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    with pytest.raises(MailStoreError) as caught:
        open_store(missing)
    assert str(caught.value) == f"{missing}: no such file or directory"
    assert not missing.exists()  # nothing was created on the way


def test_file_that_is_not_an_mbox_is_refused(tmp_path: Path) -> None:
    eml = tmp_path / "report.eml"
    eml.write_bytes(MESSAGES[0])
    with pytest.raises(MailStoreError, match="does not start with a 'From ' line"):
        open_store(eml)


def test_maildir_order_keys_and_locations(tmp_path: Path) -> None:
    store = open_store(_folder("maildir", tmp_path))
    refs = list(store.refs())
    assert [ref.key for ref in refs] == [
        "1719800000.M000000P4242Q0.mx1",
        "1719800001.M000001P4242Q1.mx1",
        "1719800002.M000002P4242Q2.mx1",
    ]
    assert refs[0].location == "cur/1719800000.M000000P4242Q0.mx1:2,S"
    assert refs[1].location == "new/1719800001.M000001P4242Q1.mx1"
    assert [ref.size for ref in refs] == [len(raw) for raw in MESSAGES]


def test_maildir_message_moved_by_another_client_is_found_by_unique_name(tmp_path: Path) -> None:
    folder = _folder("maildir", tmp_path)
    store = open_store(folder)
    refs = list(store.refs())
    moved = folder / "new" / refs[1].key
    moved.rename(folder / "cur" / f"{refs[1].key}:2,RS")
    (folder / refs[0].location).rename(folder / "cur" / f"{refs[0].key}:2,ST")
    assert store.read(refs[1]) == MESSAGES[1]
    assert read_message("maildir", folder, refs[0]) == MESSAGES[0]
    assert [ref.key for ref in store.refs()] == [ref.key for ref in refs]


def test_maildir_message_deleted_mid_scan_raises_message_gone(tmp_path: Path) -> None:
    folder = _folder("maildir", tmp_path)
    store = open_store(folder)
    refs = list(store.refs())
    (folder / refs[2].location).unlink()
    with pytest.raises(MessageGone, match=f"message {refs[2].key} is no longer in"):
        store.read(refs[2])


def test_mh_keys_follow_number_order_and_change_with_the_file(tmp_path: Path) -> None:
    messages = [plain_mail(f"message {n}") for n in range(12)]
    folder = tmp_path / "MH"
    write_mh(folder, messages)
    store = open_store(folder)
    refs = list(store.refs())
    assert [ref.location for ref in refs] == [str(n) for n in range(1, 13)]  # 10 after 9
    stat = (folder / "10").stat()
    assert refs[9].key == f"10:{stat.st_size}:{stat.st_mtime_ns}"
    (folder / "10").write_bytes(plain_mail("a different message after folder -pack"))
    with pytest.raises(MessageGone, match="was replaced since the folder was listed"):
        store.read(refs[9])


def test_mew_folder_without_mh_sequences_is_mh_and_dot_files_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "dmarc"
    write_mh(folder, MESSAGES, sequences=False, mew=True)
    store = open_store(folder)
    assert store.format == "mh"
    assert [store.read(ref) for ref in store.refs()] == MESSAGES
    assert not (folder / ".mh_sequences").exists()


def test_mbox_from_lines_are_unquoted_mboxrd_style(tmp_path: Path) -> None:
    path = _folder("mbox", tmp_path)
    on_disk = path.read_bytes()
    assert b"\n>From the kitchen" in on_disk
    assert b"\n>>From the other kitchen" in on_disk
    store = open_store(path)
    body = store.read(list(store.refs())[1])
    assert b"\nFrom the kitchen: curry.\r\n>From the other kitchen" in body


def test_mbox_keys_are_offset_and_hash_and_locations_span_the_message(tmp_path: Path) -> None:
    store = open_store(_folder("mbox", tmp_path))
    refs = list(store.refs())
    assert refs[0].key == f"0:{hashlib.sha256(MESSAGES[0]).hexdigest()[:16]}"
    offset, length = (int(n) for n in refs[1].location.split(":"))
    data = Path(store.path).read_bytes()
    assert data[offset:].startswith(b"From MAILER-DAEMON")
    assert data[offset + length :].startswith(b"From MAILER-DAEMON")  # the next message


def test_mbox_rescan_from_old_size_reads_only_appended_messages(tmp_path: Path) -> None:
    path = _folder("mbox", tmp_path)
    store = open_store(path)
    assert isinstance(store, MboxStore)
    old_size = store.size
    appended = report_mail(aggregate_xml(report_id="r4"), "x-gzip")
    with path.open("ab") as file:
        file.write(b"From MAILER-DAEMON Tue Jul  2 00:00:00 2024\n" + appended + b"\n")
    new_refs = list(store.refs(start_offset=old_size))
    assert [store.read(ref) for ref in new_refs] == [appended]
    assert new_refs[0].key.startswith(f"{old_size}:")
    assert list(store.refs(start_offset=store.size)) == []
    with pytest.raises(MailStoreError, match="no message starts at byte 7"):
        list(store.refs(start_offset=7))


def test_mbox_rewritten_under_us_gives_message_gone(tmp_path: Path) -> None:
    path = _folder("mbox", tmp_path)
    store = open_store(path)
    refs = list(store.refs())
    write_mbox(path, MESSAGES[1:])
    with pytest.raises(MessageGone):
        store.read(refs[2])


def test_mbox_streams_messages_larger_than_one_read_buffer(tmp_path: Path) -> None:
    big = plain_mail("big", "y" * (3 << 20) + "\n")  # three read buffers long
    messages = [MESSAGES[0], big, MESSAGES[2]]
    store = open_store(write_mbox(tmp_path / "mbox", messages))
    assert [store.read(ref) for ref in store.refs()] == messages


def test_empty_file_is_an_empty_mbox(tmp_path: Path) -> None:
    path = tmp_path / "spool"
    path.write_bytes(b"")
    store = open_store(path)
    assert store.format == "mbox"
    assert list(store.refs()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable directories anyway")
def test_unreadable_folder_error_names_the_reason(tmp_path: Path) -> None:
    folder = _folder("mh", tmp_path)
    folder.chmod(0)
    try:
        with pytest.raises(MailStoreError, match="permission denied"):
            list(open_store(folder, "mh").refs())
    finally:
        folder.chmod(0o755)


# --------------------------------------------------------------------------- public corpus


@pytest.mark.corpus
@pytest.mark.parametrize("kind", ["Maildir", "MH", "mbox"])
def test_corpus_folders_hold_the_69_manifest_messages(corpus: Path, kind: str) -> None:
    manifest = json.loads((corpus / "mail" / "MANIFEST.json").read_text())["entries"]
    store = open_store(corpus / "mail" / kind)
    refs = list(store.refs())
    assert len(refs) == 69
    digests = [hashlib.sha256(store.read(ref)).hexdigest() for ref in refs]
    differing = [e["n"] for e, d in zip(manifest, digests, strict=True) if e["sha256"] != d]
    # Message 20 (LinkedIn) was saved with its own mbox "From " envelope line as the first line;
    # inside an mbox that line necessarily becomes the separator, so the message lacks it.
    assert differing == ([20] if kind == "mbox" else [])


@pytest.mark.corpus
def test_corpus_mbox_message_20_differs_only_by_its_envelope_line(corpus: Path) -> None:
    mh = open_store(corpus / "mail" / "MH")
    mbox = open_store(corpus / "mail" / "mbox")
    from_mh = mh.read(list(mh.refs())[19])
    from_mbox = mbox.read(list(mbox.refs())[19])
    first_line, rest = from_mh.split(b"\n", 1)
    assert first_line == b"From dmarc-noreply@linkedin.com Tue Apr 30 02:09:16 2019"
    assert rest == from_mbox


@pytest.mark.corpus
def test_corpus_maildir_lists_new_and_cur_by_unique_name(corpus: Path) -> None:
    refs = list(open_store(corpus / "mail" / "Maildir").refs())
    assert sum(ref.location.startswith("new/") for ref in refs) == 13
    assert [ref.key for ref in refs] == sorted(ref.key for ref in refs)


def test_unreadable_message_is_a_mail_store_error_and_an_os_error(tmp_path: Path) -> None:
    folder = _folder("mh", tmp_path)
    store = open_store(folder)
    ref = next(store.refs())
    (folder / ref.location).unlink()
    (folder / ref.location).mkdir()  # reading a directory fails with EISDIR, even as root
    with pytest.raises(MailStoreError, match=r"cannot read message 1:\S+ \(.*\): is a directory"):
        store.read(ref)
    assert issubclass(MailStoreError, OSError)
