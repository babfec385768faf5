"""Every raw aggregate file of the public corpus, read by us and compared with the oracle.

``expected.json`` holds parsedmarc 11.1.0's reading of each file and a plain standard-library
reading (``stdlib_reading``, one entry per report inside the file). We must agree with
parsedmarc, except where parsedmarc departs from the XML on purpose; there we agree with the
XML's own values (the stdlib reading) and the table below says why, file by file. The table is
checked too: if parsedmarc and we ever agree on one of those files, the test says so.
"""

from __future__ import annotations

import email
import email.policy
import gzip
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dmarctui.aggregate import AggregateError, parse_aggregate, reporter_name
from dmarctui.model import AggregateReport

LOWERCASED = "parsedmarc lower-cases one-word org names and cuts them to a base domain"

EXPECTED_DIFFERENCES: dict[str, tuple[tuple[str, ...], str]] = {
    "raw/aggregate/cry__mailru.xml": (("org_name",), LOWERCASED),
    "raw/aggregate/cry__outlook.xml": (("org_name",), LOWERCASED),
    "raw/aggregate/pm__protection.outlook.com!example.com!1711756800!1711843200.xml": (
        ("org_name",),
        LOWERCASED,
    ),
    "raw/email/stalwart__102.eml": (("org_name",), LOWERCASED),
    "raw/email/stalwart__103.eml": (("org_name",), LOWERCASED),
    "raw/aggregate/pm__!large-example.com!1711897200!1711983600.xml": (
        ("org_name",),
        "the XML's org_name is empty; parsedmarc fills it from <email>, we keep it empty and "
        "reporter_name() falls back to the e-mail domain",
    ),
    "raw/aggregate/stuart__multiple_reports.zip": (
        (),
        "the zip holds 3 reports; parsedmarc returns only the first, we read every member",
    ),
}

RECOVERED = {
    "raw/aggregate/pm__ikea.com!example.de!1538690400!1538776800.xml": {"stray_tag"},
    # parsedmarc's deliberately broken sample: the veeam.com report with
    # <email><bad-xml@bad-xml.net></email> and <header_from>bad<xml.net</header_from>, i.e. an
    # unescaped "<" in two text-only elements. parsedmarc's lenient fallback loses characters
    # (org_email "@bad-xml.net>", header_from ""); we escape them and keep every character.
    "raw/aggregate/pm__invalid_xml.xml": {"escaped_markup"},
}

CLEAR_ERRORS = {
    "raw/aggregate/pm__empty.xml": "empty document",
    "raw/aggregate/desdic__corrupt.zip": "not XML: the data starts with 'this is not a zip file'",
    "raw/aggregate/stuart__dmarc-invalid-4.xml": "not XML: the data starts with 'This is not XML",
    "raw/aggregate/stuart__dmarc-invalid-1.xml": "mismatched tag at line 9, column 3: </feedback>",
}


def expected_files(corpus: Path) -> list[dict[str, Any]]:
    expected = json.loads((corpus / "expected.json").read_text())
    return [entry for entry in expected["files"] if entry["kind"] in ("aggregate", "email")]


def unpack(data: bytes) -> list[tuple[str, bytes]]:
    """Documents inside one attachment or file: gzip inflated, every zip member, else as is."""
    if data.startswith(b"\x1f\x8b"):
        return [("gzip", gzip.decompress(data))]
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [
                (f"zip:{info.filename}", archive.read(info))
                for info in archive.infolist()
                if not info.is_dir()
            ]
    return [("plain", data)]


def documents(path: Path) -> list[tuple[str, bytes]]:
    if path.suffix != ".eml":
        return unpack(path.read_bytes())
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    found = []
    for part in msg.walk():
        if part.get_content_maintype() == "application" or part.get_content_subtype() == "xml":
            found += unpack(part.get_payload(decode=True))
    return found


def reports_in(path: Path) -> list[AggregateReport]:
    """Parse every document; AppleDouble junk in zips gets its own clear error, asserted here."""
    reports = []
    for where, data in documents(path):
        if "__MACOSX/" in where:
            with pytest.raises(AggregateError, match="AppleDouble"):
                parse_aggregate(data)
            continue
        reports.append(parse_aggregate(data))
    return reports


def our_reading(report: AggregateReport) -> dict[str, Any]:
    metadata = report.report_metadata
    return {
        "org_name": metadata.org_name,
        "report_id": metadata.report_id,
        "begin_epoch": metadata.date_range.begin,
        "end_epoch": metadata.date_range.end,
        "policy_domain": report.policy_published.domain,
        "records": len(report.records),
        "messages": report.messages_total,
    }


def test_every_ok_report_agrees_with_the_oracle(corpus: Path) -> None:
    checked = 0
    for entry in expected_files(corpus):
        oracle = entry["parsedmarc"]
        if oracle["status"] != "ok":
            continue
        name = entry["file"]
        reports = reports_in(corpus / name)
        stdlib = [reading for reading in entry["stdlib_reading"] if "error" not in reading]
        ours = [our_reading(report) for report in reports]
        differing, reason = EXPECTED_DIFFERENCES.get(name, ((), ""))
        if name == "raw/aggregate/stuart__multiple_reports.zip":
            assert ours == [{key: r[key] for key in ours[0]} for r in stdlib], reason
            assert oracle["report_id"] == ours[0]["report_id"] and len(ours) == 3, reason
            checked += 1
            continue
        (reading,) = ours
        parsedmarc = {key: oracle[key] for key in reading}
        for key in differing:
            assert reading[key] != parsedmarc[key], f"{name}: no longer differs ({reason})"
            xml_value = stdlib[0][key] or ""  # the stdlib reading gives None for empty text
            assert reading[key] == xml_value, f"{name}: {key} should be the XML's ({reason})"
            parsedmarc[key] = reading[key]
        assert reading == parsedmarc, name
        checked += 1
    assert checked == 41  # 37 bare files with parsedmarc status ok + 4 report e-mails


def test_records_match_the_xml(corpus: Path) -> None:
    """Per record: source, count, disposition and the aligned results, as the XML says."""
    for entry in expected_files(corpus):
        if entry["parsedmarc"]["status"] != "ok" or entry["file"] in RECOVERED:
            continue
        reports = reports_in(corpus / entry["file"])
        for report, reading in zip(reports, entry["stdlib_reading"], strict=True):
            ours = [
                {
                    "source_ip": r.source_ip,
                    "count": r.count,
                    "disposition": r.policy_evaluated.disposition,
                    "dkim": r.policy_evaluated.dkim,
                    "spf": r.policy_evaluated.spf,
                    "header_from": r.identifiers.header_from,
                }
                for r in report.records
            ]
            assert ours == reading["record_list"], entry["file"]


def test_empty_org_name_falls_back_to_the_email_domain_for_display(corpus: Path) -> None:
    name = "raw/aggregate/pm__!large-example.com!1711897200!1711983600.xml"
    (report,) = reports_in(corpus / name)
    assert report.report_metadata.org_name == ""
    assert reporter_name(report) == "accurateplastics.com"
    assert report.messages_total == 2286


def test_files_a_strict_parser_rejects_are_recovered_and_marked(corpus: Path) -> None:
    for name, kinds in RECOVERED.items():
        (report,) = reports_in(corpus / name)
        assert report.status == "recovered", name
        assert {repair.kind for repair in report.repairs} == kinds, name
    (veeam,) = reports_in(corpus / "raw/aggregate/pm__invalid_xml.xml")
    assert veeam.report_metadata.email == "bad-xml@bad-xml.net"
    assert veeam.records[0].identifiers.header_from == "bad<xml.net"
    assert [(r.line, r.column) for r in veeam.repairs] == [(5, 10), (31, 17)]


def test_files_parsedmarc_rejects_get_a_clear_error(corpus: Path) -> None:
    errors = [e["file"] for e in expected_files(corpus) if e["parsedmarc"]["status"] != "ok"]
    assert sorted(errors) == sorted(CLEAR_ERRORS)
    for name, message in CLEAR_ERRORS.items():
        with pytest.raises(AggregateError) as caught:
            reports_in(corpus / name)
        assert str(caught.value).startswith(message), name
        assert "\n" not in str(caught.value)
