"""``dmarctui export``: parsedmarc-shaped JSON, CSV and bulk NDJSON, filtered like the other
commands, safe to open in a spreadsheet. (Agreement with parsedmarc itself is checked on the
public corpus in ``test_export_parsedmarc.py``.)"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from dmarctui.cli import main
from tests.mailbuild import BEGIN, DAY, Rec, aggregate_xml, report_mail, tls_json, write_maildir


def _folder(tmp_path: Path) -> Path:
    first = aggregate_xml(
        Rec("192.0.2.10", 12),
        Rec("198.51.100.7", 3, dkim="fail", spf="fail", disposition="quarantine",
            header_from="=HYPERLINK(\"http://evil.example\")"),
        org_name="@SUM(1+1)", report_id="<r1@google.com>",
    )  # fmt: skip
    second = aggregate_xml(
        Rec("203.0.113.5", 4), org_name="Yahoo", email="dmarc@yahoo.com", report_id="y2",
        begin=BEGIN + 10 * DAY, domain="other.example",
    )  # fmt: skip
    messages = [
        report_mail(first, message_id="<m1@x>"),
        report_mail(second, message_id="<m2@x>"),
        report_mail(tls_json(), message_id="<m3@x>", filename="google.com!example.ac.jp!1.json.gz"),
    ]
    return write_maildir(tmp_path / "Maildir", messages)[0].parent.parent


def _export(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    folder = _folder(tmp_path)
    capsys.readouterr()
    code = main(["export", str(folder), "--db", str(tmp_path / "i.db"), *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_json_is_parsedmarcs_shape_with_the_full_report_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = json.loads(_export(tmp_path, capsys))
    assert len(reports) == 2
    first = next(r for r in reports if r["policy_published"]["domain"] == "example.ac.jp")
    assert first["report_metadata"]["report_id"] == "<r1@google.com>"
    assert first["report_metadata"]["begin_date"] == "2024-07-01 00:00:00"
    assert first["policy_published"]["pct"] == "100"
    assert [r["count"] for r in first["records"]] == [12, 3]
    assert first["records"][1]["alignment"] == {"spf": False, "dkim": False, "dmarc": False}
    assert first["records"][0]["auth_results"]["dkim"][0] == {
        "domain": "example.ac.jp", "selector": "s1", "result": "pass", "human_result": None,
    }  # fmt: skip


def test_period_and_domain_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    late = json.loads(_export(tmp_path, capsys, "--since", "2024-07-05"))
    assert [r["report_metadata"]["report_id"] for r in late] == ["y2"]
    other = json.loads(_export(tmp_path / "b", capsys, "--domain", "example.ac.jp"))
    assert [r["report_metadata"]["report_id"] for r in other] == ["<r1@google.com>"]


def test_csv_rows_are_flat_and_formulas_neutralised(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = list(csv.DictReader(io.StringIO(_export(tmp_path, capsys, "--to", "csv"))))
    assert len(rows) == 3  # one per record
    hostile = next(r for r in rows if r["source_ip_address"] == "198.51.100.7")
    assert hostile["org_name"] == "'@SUM(1+1)"
    assert hostile["header_from"] == '\'=hyperlink("http://evil.example")'  # domains: lower case
    assert hostile["count"] == "3" and hostile["disposition"] == "quarantine"
    assert hostile["dkim_results"] == "fail" and hostile["dmarc_aligned"] == "False"


def test_ndjson_is_an_opensearch_bulk_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _export(tmp_path, capsys, "--to", "ndjson", "--index-prefix", "lab_").splitlines()
    assert len(lines) == 6  # action + document per record
    actions, docs = [json.loads(x) for x in lines[::2]], [json.loads(x) for x in lines[1::2]]
    assert actions[0]["index"]["_index"] == "lab_dmarc_aggregate-2024-07-01"
    assert len({a["index"]["_id"] for a in actions}) == 3
    assert docs[1]["message_count"] == 3 and docs[1]["passed_dmarc"] is False
    assert docs[0]["published_policy"]["domain"] == "example.ac.jp"
    assert docs[0]["dkim_results_combined"] == ["s1 / example.ac.jp / pass"]


def test_tls_reports_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = json.loads(_export(tmp_path, capsys, "--reports", "tls"))
    assert len(reports) == 1 and reports[0]["policies"]
    rows = list(csv.DictReader(io.StringIO(
        _export(tmp_path / "b", capsys, "--reports", "tls", "--to", "csv")
    )))  # fmt: skip
    assert rows[0]["policy_domain"] == reports[0]["policies"][0]["policy_domain"]


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out.json"
    assert _export(tmp_path, capsys, "-o", str(target)) == ""
    assert len(json.loads(target.read_text())) == 2
