"""The public corpus mailboxes: every message accounted for, the same in all three formats."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dmarctui.export import scan_to_dict
from dmarctui.scan import ScanResult, run_scan

FORMATS = {"maildir": "mail/Maildir", "mh": "mail/MH", "mbox": "mail/mbox"}

# What each message of mail/MANIFEST.json must become (by MH number). Everything not listed
# is a plain aggregate report.
EXPECTED_BUCKET = {
    **dict.fromkeys((1, 15, 20, 24, 55), "failure"),
    **dict.fromkeys((3, 33, 58, 65, 66), "tls"),
    **dict.fromkeys((51, 52, 53, 54, 56), "not_report"),
    # 36 gzip bomb, 38 XXE, 39 billion laughs, 41 truncated gzip, 45 text named .zip,
    # 46 empty document, 49 unclosed element, 50 not XML at all
    **dict.fromkeys((36, 38, 39, 41, 45, 46, 49, 50), "error"),
    # 13: the traversal zip holds the same report as 12; 60: both reports of the zip arrived
    # on their own before (57, 59); 62: exact copy of 61
    **dict.fromkeys((13, 60, 62), "duplicate"),
}


def _manifest(corpus: Path) -> list[dict]:
    return json.loads((corpus / "mail" / "MANIFEST.json").read_text())["entries"]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    files = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), os.stat(p).st_mtime_ns) for p in files}


@pytest.fixture(scope="module")
def scans() -> dict[str, ScanResult]:
    from tests.conftest import CORPUS

    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"public corpus not found at {CORPUS}")
    return {fmt: run_scan(CORPUS / rel, fmt, workers=1) for fmt, rel in FORMATS.items()}  # type: ignore[arg-type]


def _by_position(corpus: Path, result: ScanResult, fmt: str) -> dict[int, str]:
    """MH number -> bucket, mapping each format's message keys back to the manifest."""
    order = list(result.refs)  # folder order
    entries = _manifest(corpus)
    if fmt == "mh":
        return {int(k.split(":")[0]): result.ledger.bucket_of[k] for k in order}
    if fmt == "maildir":
        by_name = {Path(e["maildir"]).name.split(":")[0]: e["n"] for e in entries}
        return {by_name[k]: result.ledger.bucket_of[k] for k in order}
    return {i + 1: result.ledger.bucket_of[k] for i, k in enumerate(order)}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_message_lands_in_its_bucket(corpus: Path, scans: dict, fmt: str) -> None:
    result = scans[fmt]
    assert result.messages == 69
    assert sum(result.buckets.values()) == 69
    got = _by_position(corpus, result, fmt)
    want = {e["n"]: EXPECTED_BUCKET.get(e["n"], "aggregate") for e in _manifest(corpus)}
    assert got == want
    assert result.buckets == {
        "aggregate": 43,
        "failure": 5,
        "tls": 5,
        "duplicate": 3,
        "not_report": 5,
        "error": 8,
    }


def _report_facts(result: ScanResult) -> list[tuple]:
    return [
        (
            f.part,
            f.report.report_metadata.org_name,
            f.report.report_metadata.report_id,
            f.report.report_metadata.date_range.begin,
            f.report.policy_published.domain,
            len(f.report.records),
            f.report.messages_total,
            f.report.status,
        )
        for f in result.reports
    ]


def test_three_formats_give_the_same_reports(scans: dict) -> None:
    maildir = _report_facts(scans["maildir"])
    assert maildir == _report_facts(scans["mh"]) == _report_facts(scans["mbox"])
    # 43 aggregate messages, one of them a zip of three reports, one a two-report zip whose
    # reports are both duplicates: 45 distinct reports.
    assert len(maildir) == 45


def test_duplicates_and_collisions_are_named(corpus: Path, scans: dict) -> None:
    result = scans["mh"]
    dups = {(d.message.split(":")[0], d.duplicate_of.split(":")[0]) for d in result.duplicates}
    assert ("62", "61") in dups
    assert ("13", "12") in dups
    assert {("60", "59"), ("60", "57")} <= dups
    reasons = {(c.report_id, c.reason) for c in result.collisions}
    # b: same report_id, date range +1 day, another reporter e-mail: kept, both counted
    assert ("website.com_1504828800", "different_email") in reasons
    # one report_id used by three organisations
    assert sum(1 for c in result.collisions if c.report_id == "1234567890") >= 2
    assert not any(c.counted_once for c in result.collisions if c.report_id == "1234567890")


def test_recovered_report_says_what_was_repaired(scans: dict) -> None:
    recovered = [f for f in scans["mh"].reports if f.report.status == "recovered"]
    assert {f.message.split(":")[0] for f in recovered} >= {"63"}
    for f in recovered:
        assert f.report.repairs and all(r.line > 0 for r in f.report.repairs)


def test_errors_have_actionable_reasons(scans: dict) -> None:
    reasons = {e.message.split(":")[0]: e.reason.lower() for e in scans["mh"].errors}
    assert "limit" in reasons["36"]  # gzip bomb stopped at the cap
    assert "doctype" in reasons["38"] or "entit" in reasons["38"]
    assert "doctype" in reasons["39"] or "entit" in reasons["39"]
    assert "truncated" in reasons["41"] or "end of" in reasons["41"]
    assert "empty" in reasons["46"] or "nothing" in reasons["46"]
    for reason in reasons.values():
        assert "/etc/passwd" not in reason or "root:" not in reason


def test_json_output_shape(scans: dict) -> None:
    data = scan_to_dict(scans["maildir"])
    assert data["messages"] == sum(data["buckets"].values()) == 69
    assert len(data["errors"]) == data["buckets"]["error"]
    for report in data["reports"]:
        assert {
            "message",
            "filename",
            "org_name",
            "email",
            "report_id",
            "begin",
            "end",
            "domain",
            "records",
            "messages_total",
            "status",
        } <= report.keys()
        assert isinstance(report["begin"], int) and isinstance(report["end"], int)
    dup_messages = {d["message"] for d in data["duplicates"]}
    assert not dup_messages & {r["message"] for r in data["reports"]}
    json.dumps(data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_folder_untouched_by_scan(corpus: Path, fmt: str, tmp_path: Path) -> None:
    folder = corpus / FORMATS[fmt]
    before = _snapshot(folder)
    run_scan(folder, fmt, workers=1)  # type: ignore[arg-type]
    assert _snapshot(folder) == before
