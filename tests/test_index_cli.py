"""The headless commands read and update the index by default; output equals the in-memory scan."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from dmarctui.cli import main
from dmarctui.cli.common import add_folder_arguments, add_index_arguments, load_reports
from dmarctui.scan import run_scan


def scan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["scan", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["Maildir", "mbox"])
def test_scan_json_from_the_index_equals_in_memory(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    folder = str(corpus / "mail" / name)
    db = str(tmp_path / "i.db")
    first = scan_json(capsys, folder, "--db", db, "--workers", "1")
    assert first.pop("index") == {
        "db": db, "new": 69, "changed": 0, "gone": 0, "unchanged": 0, "bodies_read": 69,
    }  # fmt: skip
    in_memory = scan_json(capsys, folder, "--no-index", "--workers", "1")
    assert "index" not in in_memory
    assert first == in_memory
    again = scan_json(capsys, folder, "--db", db)
    assert again.pop("index")["bodies_read"] == 0
    assert again == in_memory


def test_scan_text_reports_the_changes(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(corpus / "mail" / "MH")
    assert main(["scan", folder, "--db", str(tmp_path / "i.db"), "--workers", "1"]) == 0
    assert "69 new, 0 changed, 0 gone, 0 unchanged (69 messages read)" in capsys.readouterr().out
    assert main(["scan", folder, "--db", str(tmp_path / "i.db")]) == 0
    assert "0 new, 0 changed, 0 gone, 69 unchanged (0 messages read)" in capsys.readouterr().out


def test_unusable_index_is_a_one_line_error(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "junk.db"
    db.write_bytes(b"junk" * 1000)
    assert main(["scan", str(corpus / "mail" / "MH"), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dmarctui: ") and "not a dmarctui index" in err
    assert err.count("\n") == 1


def test_extract_from_the_index_writes_the_same_files(corpus: Path, tmp_path: Path) -> None:
    folder = str(corpus / "mail" / "Maildir")
    assert main(["extract", folder, "--out", str(tmp_path / "a"), "--no-index"]) == 0
    assert main(["extract", folder, "--out", str(tmp_path / "b"), "--db", str(tmp_path / "i")]) == 0
    a = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    b = {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}
    assert len(a) == 45
    assert a == b


def test_load_reports_for_the_triage_commands(corpus: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_folder_arguments(parser)
    add_index_arguments(parser)
    folder = corpus / "mail" / "MH"
    expected = run_scan(folder, workers=1).counted_reports()
    args = parser.parse_args([str(folder), "--db", str(tmp_path / "i.db"), "--workers", "1"])
    assert load_reports(args) == expected
    assert load_reports(parser.parse_args([str(folder), "--no-index"])) == expected
    begin = min(r.report_metadata.date_range.begin for r in expected)
    assert load_reports(args, since=begin, until=begin) == [
        r for r in expected if r.report_metadata.date_range.begin <= begin
    ]
