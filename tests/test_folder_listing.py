"""One bad entry never blocks the folder (issue 11, item 12).

A symlink loop in ``cur/``, or a ``new/`` that cannot be listed, becomes an error entry with a
reason; every other message is scanned and the commands exit 0. Only a folder that cannot be
opened at all is fatal: one line, exit 2.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from dmarctui.cli import main
from tests.mailbuild import aggregate_xml, report_mail, write_maildir

REAL_LISTDIR = os.listdir
REAL_SCANDIR = os.scandir


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "Maildir"
    messages = [report_mail(aggregate_xml(report_id=f"r{i}")) for i in range(3)]
    write_maildir(folder, messages, new=[2])
    (folder / "cur" / "1719900000.M1P1Q1.mx1:2,S").symlink_to("1719900000.M1P1Q1.mx1:2,S")
    return folder


def _deny_new(monkeypatch: pytest.MonkeyPatch) -> None:
    """``new/`` cannot be listed (root ignores permissions, so the denial is simulated)."""

    def where(target: object) -> str:
        if isinstance(target, int):
            return os.readlink(f"/proc/self/fd/{target}")
        return os.fspath(target)  # type: ignore[arg-type]

    def denied(target: object) -> None:
        if where(target).endswith("/new"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), where(target))

    def listdir(target: object = ".") -> list[str]:
        denied(target)
        return REAL_LISTDIR(target)  # type: ignore[arg-type]

    def scandir(target: object = ".") -> object:
        denied(target)
        return REAL_SCANDIR(target)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "listdir", listdir)
    monkeypatch.setattr(os, "scandir", scandir)


@pytest.mark.parametrize("index", [["--no-index"], []], ids=["no-index", "index"])
def test_a_symlink_loop_and_an_unreadable_new_are_error_entries(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    index: list[str],
) -> None:
    folder = _folder(tmp_path)
    _deny_new(monkeypatch)
    db = [] if index else ["--db", str(tmp_path / "i.sqlite")]
    assert main(["scan", str(folder), "--json", *index, *db]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["buckets"]["aggregate"] == 2
    assert data["buckets"]["error"] == 2
    reasons = sorted(e["reason"] for e in data["errors"])
    assert "too many levels of symbolic links" in reasons[0] + reasons[1]
    assert any(f"cannot list {folder}/new: permission denied" in r for r in reasons)
    for command in (["flagged", "--no-dns"], ["readiness", "--no-dns"]):
        assert main([command[0], str(folder), *command[1:], *index, *db]) == 0


def test_a_folder_that_cannot_be_opened_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for command in (["scan"], ["flagged", "--no-dns"], ["readiness", "--no-dns"]):
        assert main([command[0], str(loop), *command[1:], "--no-index"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(loop) in err
