"""Queries over the index of the public corpus, checked against the in-memory scan."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mailbuild import BEGIN, DAY, Rec, aggregate_xml, report_mail, write_maildir

from dmarctui.aggregate import parse_aggregate
from dmarctui.export import scan_to_dict
from dmarctui.index import Index, ReportFilter
from dmarctui.scan import ScanResult, drain, run_scan


def folder_state(path: Path) -> dict[str, tuple[bytes, int]]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in files}


@pytest.fixture(scope="module")
def memory_scan() -> ScanResult:
    from conftest import CORPUS

    if not (CORPUS / "expected.json").is_file():
        pytest.skip(f"public corpus not found at {CORPUS}")
    return run_scan(CORPUS / "mail" / "Maildir", workers=1)


@pytest.mark.parametrize("name", ["Maildir", "MH", "mbox"])
def test_index_equals_in_memory_scan(corpus: Path, tmp_path: Path, name: str) -> None:
    folder = corpus / "mail" / name
    before = folder_state(folder)
    with Index.open(folder, db=tmp_path / "i.db") as index:
        drain(index.update(workers=1))
        assert scan_to_dict(index.scan_result()) == scan_to_dict(run_scan(folder, workers=1))
        assert drain(index.update()).bodies_read == 0
    assert folder_state(folder) == before


@pytest.fixture
def index(corpus: Path, tmp_path: Path) -> Index:
    opened = Index.open(corpus / "mail" / "Maildir", in_memory=True)
    drain(opened.update(workers=1))
    assert opened.db_path is None
    return opened


def test_totals_match_the_scan(index: Index, memory_scan: ScanResult) -> None:
    assert index.buckets() == memory_scan.buckets
    assert sum(index.buckets().values()) == index.message_count() == 69
    assert index.count_reports() == len(memory_scan.reports)
    assert list(index.counted_reports()) == memory_scan.counted_reports()
    assert index.failures() == memory_scan.failures
    assert index.tls_reports() == memory_scan.tls
    assert index.errors() == memory_scan.errors
    assert index.not_reports() == memory_scan.ledger.not_reports


def test_filters_agree_with_the_scan(index: Index, memory_scan: ScanResult) -> None:
    reports = memory_scan.reports
    domain = reports[0].report.policy_published.domain
    by_domain = [f for f in reports if f.report.policy_published.domain.lower() == domain.lower()]
    assert index.count_reports(ReportFilter(domain=domain.upper())) == len(by_domain)
    org = reports[-1].report.report_metadata.org_name
    # A reporter is named by its org_name, its email, or the domain of its email.
    assert index.count_reports(ReportFilter(reporter=org)) == sum(
        1
        for f in reports
        if org.lower()
        in (
            f.report.report_metadata.org_name.lower(),
            f.report.report_metadata.email.lower().rpartition("@")[2],
        )
    )
    failing = [f for f in reports if any(
        r.policy_evaluated.dkim != "pass" and r.policy_evaluated.spf != "pass"
        for r in f.report.records
    )]  # fmt: skip
    assert index.count_reports(ReportFilter(result="fail")) == len(failing)
    rejected = [
        f
        for f in reports
        if any(r.policy_evaluated.disposition == "reject" for r in f.report.records)
    ]
    assert index.count_reports(ReportFilter(disposition="reject")) == len(rejected)
    first = reports[0].report.report_metadata
    assert index.reports_page(ReportFilter(text=first.report_id))[0].report_id == first.report_id
    ip = reports[0].report.records[0].source_ip
    with_ip = [f for f in reports if any(r.source_ip == ip for r in f.report.records)]
    assert index.count_reports(ReportFilter(source=ip)) == len(with_ip)
    begin = first.date_range.begin
    in_day = [
        f
        for f in reports
        if f.report.report_metadata.date_range.end >= begin
        and f.report.report_metadata.date_range.begin <= begin + DAY
    ]
    assert index.count_reports(ReportFilter(since=begin, until=begin + DAY)) == len(in_day)


def test_sorting_paging_and_failing_first(index: Index) -> None:
    total = index.count_reports()
    pages = [index.reports_page(sort="org_name", descending=False, offset=o, limit=10)
             for o in range(0, total, 10)]  # fmt: skip
    rows = [row for page in pages for row in page]
    assert len(rows) == total == len({r.pk for r in rows})
    assert [r.org_name for r in rows] == sorted(r.org_name for r in rows)
    ordered = index.reports_page(ReportFilter(failing_first=True), sort="begin", limit=total)
    failing = [r.failed for r in ordered]
    assert failing == sorted(failing, reverse=True)  # by how much fails, not only whether
    assert failing[0] > failing[-1] == 0
    with pytest.raises(ValueError, match="cannot sort by"):
        index.reports_page(sort="begin; DROP TABLE reports")


def test_detail_xml_and_source_records(index: Index) -> None:
    row = index.reports_page(sort="records", limit=1)[0]
    detail = index.report(row.pk)
    assert len(detail.report.records) == row.records
    assert detail.report.messages_total == row.messages == row.passed + row.failed
    assert detail.ref.key == row.message and detail.summary.subject
    assert parse_aggregate(index.report_xml(row.pk)) == detail.report
    ip = detail.report.records[0].source_ip
    pairs = index.records_for_source(ip)
    assert (row.pk, ip) in {(r.pk, rec.source_ip) for r, rec in pairs}
    per_day = index.daily_totals(ip)
    assert sum(n for _, n in per_day) == sum(rec.count for r, rec in pairs if r.counted)


def test_date_range_only_collision_is_counted_once(tmp_path: Path) -> None:
    records = (Rec("192.0.2.10", 5), Rec("198.51.100.7", 2, dkim="fail", spf="fail"))
    first = aggregate_xml(*records, report_id="same")
    second = aggregate_xml(*records, report_id="same", begin=BEGIN + 3600)
    write_maildir(tmp_path / "dmarc", [report_mail(first), report_mail(second, "zip")])
    with Index.open(tmp_path / "dmarc", in_memory=True) as index:
        drain(index.update())
        rows = index.reports_page(sort="begin", descending=False)
        assert [(r.collision, r.counted) for r in rows] == [(True, True), (True, False)]
        assert [c.reason for c in index.collisions()] == ["date_range_only"]
        assert [r.messages_total for r in index.counted_reports()] == [7]
        assert index.daily_totals() == [(time.strftime("%Y-%m-%d", time.gmtime(BEGIN)), 7)]
        assert index.daily_totals("198.51.100.0/24") == [
            (time.strftime("%Y-%m-%d", time.gmtime(BEGIN)), 2)
        ]
