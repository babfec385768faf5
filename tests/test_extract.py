"""`dmarctui extract`: conventional names, no overwrites, nothing outside the output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmarctui.cli import main
from dmarctui.extract import conventional_name, extract_folder
from dmarctui.mailstore import open_store
from dmarctui.model import (
    AggregateReport,
    DateRange,
    FoundReport,
    PolicyPublished,
    ReportMetadata,
)


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
    assert [a.path.name for a in suffixed] == [
        "protection.outlook.com!a-domain.localhost!1732492800!1732579200~1.xml"
    ]


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
