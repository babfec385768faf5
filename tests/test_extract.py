"""`dmarctui extract`: conventional names, no overwrites, nothing outside the output folder."""

from __future__ import annotations

import errno
import io
import os
import re
from pathlib import Path

import pytest

from dmarctui import extract as extract_module
from dmarctui.aggregate import parse_aggregate
from dmarctui.cli import main
from dmarctui.extract import conventional_name, extract_folder, write_report
from dmarctui.mailstore import open_store
from dmarctui.model import (
    AggregateReport,
    DateRange,
    FoundReport,
    PolicyPublished,
    ReportMetadata,
)
from tests.mailbuild import aggregate_xml, report_mail, write_maildir


def _found(filename: str | None) -> FoundReport:
    report = AggregateReport(
        ReportMetadata("Google", "noreply-dmarc-support@google.com", "1", DateRange(10, 20)),
        PolicyPublished("example.ac.jp", "none"),
        (),
    )
    return FoundReport("m1", "2", filename, report, "k")


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("google.com!example.ac.jp!10!20.zip", "google.com!example.ac.jp!10!20.xml"),
        ("google.com!example.ac.jp!10!20.xml.gz", "google.com!example.ac.jp!10!20.xml"),
        ("a.com!b.jp!10!20!uid-1.xml.gz", "a.com!b.jp!10!20!uid-1.xml"),
        ("report.xml", "google.com!example.ac.jp!10!20.xml"),
        ("../../../../tmp/evil.xml", "google.com!example.ac.jp!10!20.xml"),
        (None, "google.com!example.ac.jp!10!20.xml"),
    ],
)
def test_conventional_name(filename: str | None, name: str) -> None:
    assert conventional_name(_found(filename)) == name


def test_extract_corpus_writes_each_distinct_report_once(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "xml"
    result, actions = extract_folder(open_store(corpus / "mail" / "MH"), out)
    wrote = [a for a in actions if a.action == "wrote"]
    assert len(wrote) == len(result.reports) == 45
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 45
    assert all(p.parent == out.resolve() for p in (a.path for a in actions))
    assert not Path("/tmp/dmarctui-traversal-test.xml").exists()
    assert "protection.outlook.com!a-domain.localhost!1732492800!1732579200.xml" in files

    # a second run writes nothing: every file is identical
    _, again = extract_folder(open_store(corpus / "mail" / "MH"), out)
    assert {a.action for a in again} == {"skipped"}

    # a different file under the same name is kept and the report gets a suffix
    victim = out / "protection.outlook.com!a-domain.localhost!1732492800!1732579200.xml"
    victim.write_bytes(b"<mine/>")
    _, third = extract_folder(open_store(corpus / "mail" / "MH"), out)
    assert victim.read_bytes() == b"<mine/>"
    suffixed = [a for a in third if a.action == "wrote"]
    assert len(suffixed) == 1
    assert re.fullmatch(
        r"protection\.outlook\.com!a-domain\.localhost!1732492800!1732579200~[0-9a-f]{16}\.xml",
        suffixed[0].path.name,
    )


def test_extract_command_prints_what_it_did(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["extract", str(corpus / "mail" / "mbox"), "--out", str(tmp_path / "o")])
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 45
    assert "(written)" not in out  # "wrote X" says it once
    assert "45 written, 0 skipped" in out


def test_extract_refuses_a_file_as_output(tmp_path: Path, corpus: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["extract", str(corpus / "mail" / "MH"), "--out", str(target)]) == 2


def test_extract_refuses_to_write_into_the_mail_folder(corpus: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "Maildir"
    shutil.copytree(corpus / "mail" / "Maildir", folder)
    before = sorted(p.name for p in (folder / "new").iterdir())
    for extra in ([], ["--no-index"]):
        code = main(["extract", str(folder), "--out", str(folder / "new"), *extra])
        assert code == 2
    assert sorted(p.name for p in (folder / "new").iterdir()) == before


def _same_name_reports(count: int) -> list[tuple[FoundReport, bytes]]:
    report = parse_aggregate(aggregate_xml())
    name = "google.com!example.ac.jp!1719792000!1719878399.xml"
    return [
        (FoundReport(f"m{i}", "2", name, report, ""), aggregate_xml(report_id=f"r{i}"))
        for i in range(count)
    ]


def test_a_thousand_and_one_reports_with_one_name_are_all_written(tmp_path: Path) -> None:
    out = tmp_path / "xml"
    out.mkdir()
    reports = _same_name_reports(1001)
    actions = [write_report(out.resolve(), found, xml) for found, xml in reports]
    assert [a.action for a in actions] == ["wrote"] * 1001
    assert len(list(out.iterdir())) == 1001
    again = [write_report(out.resolve(), found, xml) for found, xml in reports]
    assert [a.path for a in again] == [a.path for a in actions]
    assert {a.action for a in again} == {"skipped"}


def test_a_full_disk_leaves_no_truncated_file_and_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_maildir(tmp_path / "Maildir", [report_mail(aggregate_xml())]).pop().parents[1]
    real_fdopen = os.fdopen

    class FullDisk(io.RawIOBase):
        def __init__(self, fd: int) -> None:
            self.file = real_fdopen(fd, "wb")

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.file.write(bytes(data[: len(data) // 2]))
            self.file.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self) -> None:
            self.file.close()

    monkeypatch.setattr(extract_module.os, "fdopen", lambda fd, mode: FullDisk(fd))
    out = tmp_path / "xml"
    assert main(["extract", str(folder), "--out", str(out), "--no-index"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert list(out.iterdir()) == []
