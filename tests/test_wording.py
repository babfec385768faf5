"""Counted nouns and the messages that used to say a word twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmarctui.analysis import unreadable
from dmarctui.mailstore import MailStoreError, MessageRef, open_store
from dmarctui.wording import count


@pytest.mark.parametrize(
    ("n", "noun", "text"),
    [
        (1, "domain", "1 domain"),
        (2, "domain", "2 domains"),
        (0, "failure report", "0 failure reports"),
        (1, "TLS report", "1 TLS report"),
        (1_500, "message", "1,500 messages"),
        (3, "policy", "3 policies"),
        (2, "duplicate copy", "2 duplicate copies"),
    ],
)
def test_count_says_one_without_s(n: int, noun: str, text: str) -> None:
    assert count(n, noun) == text


def test_an_unreadable_message_says_cannot_read_once(tmp_path: Path) -> None:
    folder = tmp_path / "mh"
    folder.mkdir()
    (folder / "1").write_bytes(b"Subject: x\n\nx\n")
    store = open_store(folder, "mh")
    ref = next(store.refs())
    (folder / "1").unlink()
    (folder / "1").mkdir()  # reading a directory fails, even as root
    with pytest.raises(MailStoreError) as caught:
        store.read(ref)
    [problem] = unreadable(ref, caught.value).problems
    assert problem.reason.count("cannot read message") == 1
    assert problem.reason.startswith("cannot read message 1")
    plain = unreadable(MessageRef("2", "2", 0, 0), PermissionError(13, "Permission denied"))
    assert plain.problems[0].reason == "cannot read message: Permission denied"


def test_not_a_maildir_names_both_subfolders(tmp_path: Path) -> None:
    (tmp_path / "md" / "tmp").mkdir(parents=True)
    with pytest.raises(MailStoreError, match=r"not a Maildir \(no cur/ or new/ inside\)"):
        open_store(tmp_path / "md", "maildir")
