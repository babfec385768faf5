"""Every input is bounded (issue 11, item 9): one message's size and records per report.

Both overruns are errors with a reason, and memory stays a small multiple of the input.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from dmarctui.analysis import analyse_message
from dmarctui.model import MessageRef
from dmarctui.payloads import Limits
from dmarctui.scan import run_scan
from tests.mailbuild import aggregate_xml, report_mail, write_maildir

REF = MessageRef("k", "k", 0, 0.0)
RECORD = (
    b"<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row>"
    b"<identifiers><header_from>example.ac.jp</header_from></identifiers></record>"
)


def _many_records(count: int) -> bytes:
    head = aggregate_xml().partition(b"<record>")[0]
    return head + RECORD * count + b"</feedback>\n"


def test_a_message_over_the_size_limit_is_an_error_and_the_rest_is_scanned(
    tmp_path: Path,
) -> None:
    huge = report_mail(aggregate_xml()) + b"x" * (33 << 20)
    folder = tmp_path / "Maildir"
    write_maildir(folder, [huge, report_mail(aggregate_xml(report_id="small"))])
    result = run_scan(folder, workers=1)
    assert result.buckets["aggregate"] == 1
    (error,) = result.errors
    assert "more than the limit of 32 MiB for one message; not read" in error.reason


def test_a_report_with_too_many_records_is_an_error_and_memory_stays_bounded() -> None:
    document = _many_records(150_000)
    raw = report_mail(document)
    tracemalloc.start()
    try:
        outcome = analyse_message(raw, REF, Limits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.reports == ()
    (problem,) = outcome.problems
    assert "150,000 records, more than the limit of 100,000; not read" in problem.reason
    assert peak < 5 * len(document), f"{peak >> 20} MiB for a {len(document) >> 20} MiB report"


def test_reports_under_the_record_limit_are_read() -> None:
    outcome = analyse_message(report_mail(_many_records(1000)), REF, Limits(max_records=1000))
    assert len(outcome.reports[0].report.records) == 1000
