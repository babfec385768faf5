"""Accounting across messages in the in-memory scan: duplicates and report_id collisions."""

from __future__ import annotations

from pathlib import Path

from mailbuild import (
    BEGIN,
    Rec,
    aggregate_xml,
    mail,
    mime_part,
    multipart,
    report_mail,
    tls_json,
    write_maildir,
    zip_bytes,
)

from dmarctui.export import scan_to_dict
from dmarctui.index import Index
from dmarctui.scan import drain, run_scan

RECORDS = (Rec("192.0.2.10", 5), Rec("198.51.100.7", 2, dkim="fail", spf="fail"))


def test_resent_report_is_a_duplicate_pointing_at_the_first(tmp_path: Path) -> None:
    xml = aggregate_xml(*RECORDS)
    folder = tmp_path / "m"
    write_maildir(folder, [report_mail(xml), report_mail(xml, "zip")])
    result = run_scan(folder, workers=1)
    assert result.buckets["aggregate"] == 1
    assert result.buckets["duplicate"] == 1
    assert len(result.reports) == 1
    (dup,) = result.duplicates
    assert dup.duplicate_of == result.reports[0].message
    assert dup.message != dup.duplicate_of


def test_date_range_only_collision_is_listed_and_counted_once(tmp_path: Path) -> None:
    first = aggregate_xml(*RECORDS, report_id="same")
    second = aggregate_xml(*RECORDS, report_id="same", begin=BEGIN + 3600)
    folder = tmp_path / "m"
    write_maildir(folder, [report_mail(first), report_mail(second)])
    result = run_scan(folder, workers=1)
    assert len(result.reports) == 2  # both stay visible
    (collision,) = result.collisions
    assert collision.reason == "date_range_only"
    assert collision.counted_once
    assert "counted once" in collision.detail
    assert [r.messages_total for r in result.counted_reports()] == [7]


def test_shared_reporting_system_keeps_both_reports(tmp_path: Path) -> None:
    first = aggregate_xml(*RECORDS, report_id="same", email="dmarc@hoster-a.example")
    second = aggregate_xml(Rec("203.0.113.5", 3), report_id="same", email="dmarc@hoster-b.example")
    folder = tmp_path / "m"
    write_maildir(folder, [report_mail(first), report_mail(second)])
    result = run_scan(folder, workers=1)
    (collision,) = result.collisions
    assert collision.reason == "different_email"
    assert not collision.counted_once
    assert sorted(r.messages_total for r in result.counted_reports()) == [3, 7]


def test_other_collision_names_what_differs(tmp_path: Path) -> None:
    first = aggregate_xml(*RECORDS, report_id="same")
    second = aggregate_xml(Rec("203.0.113.5", 3), report_id="same")
    folder = tmp_path / "m"
    write_maildir(folder, [report_mail(first), report_mail(second)])
    (collision,) = run_scan(folder, workers=1).collisions
    assert collision.reason == "other"
    assert collision.detail.endswith("differs in records")


def test_absurd_numbers_are_errors_not_crashes(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    write_maildir(
        folder,
        [
            report_mail(aggregate_xml(*RECORDS).replace(b"<begin>", b"<begin>1e400", 1)),
            report_mail(aggregate_xml(*RECORDS, begin=10**25, report_id="huge")),
            report_mail(aggregate_xml(Rec("192.0.2.1", 2**64), report_id="count")),
            report_mail(
                b'{"policies": [' * 5000 + b'"date-range"', "gzip", filename="x!y!1!2.json.gz"
            ),
        ],
    )
    result = run_scan(folder, workers=1)
    assert result.buckets["error"] == 4
    assert all(
        "epoch" in e.reason or "range" in e.reason or "JSON" in e.reason for e in result.errors
    ), [e.reason for e in result.errors]


def test_absurd_numbers_do_not_break_the_index(tmp_path: Path) -> None:
    from dmarctui.index import Index
    from dmarctui.scan import drain

    folder = tmp_path / "m"
    write_maildir(folder, [report_mail(aggregate_xml(*RECORDS, begin=10**25, report_id="huge"))])
    with Index.open(folder, db=tmp_path / "index.sqlite3") as index:
        drain(index.update(workers=1))
        assert index.buckets()["error"] == 1


def test_the_same_tls_report_twice_in_one_message_counts_once(tmp_path: Path) -> None:
    """As with aggregate reports, a copy inside the very message of the first is a duplicate."""
    document = tls_json()
    archive = zip_bytes({"a.json": document, "b.json": document, "c.json": tls_json(failed=3)})
    message = mail(multipart(mime_part(archive, "application/zip", filename="tls.zip")))
    folder = tmp_path / "m"
    write_maildir(folder, [message])
    result = run_scan(folder, workers=1)
    assert result.buckets["tls"] == 1
    assert len(result.tls) == 2  # the first copy and the other report
    (dup,) = result.duplicates
    assert dup.message == dup.duplicate_of
    assert dup.why.startswith("same tls report")
    with Index.open(folder, db=tmp_path / "i.db") as index:
        drain(index.update())
        assert scan_to_dict(index.scan_result()) == scan_to_dict(result)
