"""Paths from the newcomer trial (issue 11, item 16): each is one line, exit 2, and no index
file is left behind for a path that failed to open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dmarctui.cli import main
from tests.mailbuild import aggregate_xml, report_mail, write_maildir


def _cache_files() -> list[Path]:
    cache = Path(os.environ["XDG_CACHE_HOME"])
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


@pytest.mark.parametrize("index", [["--no-index"], []], ids=["no-index", "index"])
def test_a_text_file_forced_as_mbox_is_not_an_mbox(
    tmp_path: Path, index: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello\nthis is not a mailbox\n")
    assert main(["scan", str(text), "--format", "mbox", *index]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"dmarctui: {text}: a file that does not start with a 'From ' line, so not an mbox\n"
    )
    assert _cache_files() == []


@pytest.mark.parametrize("index", [["--no-index"], []], ids=["no-index", "index"])
def test_a_maildir_forced_as_mh_says_what_it_is(
    tmp_path: Path, index: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "Maildir"
    write_maildir(folder, [report_mail(aggregate_xml())])
    assert main(["scan", str(folder), "--format", "mh", *index]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a Maildir (cur/ and new/ inside), not an MH folder" in err
    assert _cache_files() == []


def test_a_missing_folder_leaves_no_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["scan"], ["flagged", "--no-dns"], ["readiness", "--no-dns"]):
        assert main([command[0], str(tmp_path / "nope"), *command[1:]]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert _cache_files() == []
