"""The scan's fast paths give the careful paths' answers and are only taken when safe."""

from __future__ import annotations

from collections.abc import Callable
from xml.etree.ElementTree import Element

import pytest

from dmarctui import aggregate
from dmarctui.aggregate import AggregateError, parse_aggregate

REPORT = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<feedback><report_metadata>'
    "<org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>"
    "<report_id>{report_id}</report_id>"
    "<date_range><begin>1720224000</begin><end>1720310399</end></date_range>"
    "</report_metadata><policy_published><domain>example.ac.jp</domain><p>none</p>"
    "</policy_published><record><row><source_ip>192.0.2.15</source_ip><count>3</count>"
    "<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>"
    "</policy_evaluated></row><identifiers><header_from>example.ac.jp</header_from>"
    "</identifiers><auth_results><spf><domain>example.ac.jp</domain><result>pass</result>"
    "</spf></auth_results></record></feedback>\n"
)


@pytest.fixture
def careful_calls(monkeypatch: pytest.MonkeyPatch) -> list[bytes | str]:
    """Documents that went through defusedxml (the careful path), in order."""
    calls: list[bytes | str] = []
    careful: Callable[[bytes | str], Element] = aggregate._parse_defused

    def spy(data: bytes | str) -> Element:
        calls.append(data)
        return careful(data)

    monkeypatch.setattr(aggregate, "_parse_defused", spy)
    return calls


def test_a_plain_report_takes_the_fast_parser(careful_calls: list[bytes | str]) -> None:
    report = parse_aggregate(REPORT.format(report_id="r1").encode())
    assert report.report_metadata.report_id == "r1"
    assert report.records[0].count == 3
    assert careful_calls == []


def test_a_doctype_goes_through_defusedxml_and_is_refused(
    careful_calls: list[bytes | str],
) -> None:
    doc = REPORT.format(report_id="&xxe;").replace(
        "<feedback>", '<!DOCTYPE feedback [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><feedback>'
    )
    with pytest.raises(AggregateError, match="refused: the document declares a DOCTYPE"):
        parse_aggregate(doc.encode())
    assert len(careful_calls) == 1


def test_lower_case_entity_markup_is_not_trusted_either(careful_calls: list[bytes | str]) -> None:
    doc = REPORT.format(report_id="r1").replace("<feedback>", "<!-- <!entity --><feedback>")
    assert parse_aggregate(doc.encode()).report_metadata.report_id == "r1"
    assert len(careful_calls) == 1


def test_utf16_goes_through_defusedxml_with_the_same_result(
    careful_calls: list[bytes | str],
) -> None:
    doc = REPORT.format(report_id="r16").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    report = parse_aggregate(doc.encode("utf-16"))
    assert report == parse_aggregate(REPORT.format(report_id="r16").encode())
    assert len(careful_calls) == 1


def test_other_declared_encodings_go_through_defusedxml(careful_calls: list[bytes | str]) -> None:
    doc = REPORT.format(report_id="café").replace('encoding="UTF-8"', 'encoding="windows-1252"')
    assert parse_aggregate(doc.encode("cp1252")).report_metadata.report_id == "café"
    assert len(careful_calls) == 1


def test_mis_encoded_bytes_still_get_the_same_recovery(careful_calls: list[bytes | str]) -> None:
    doc = REPORT.format(report_id="r1").replace("google.com</org", "Gm\xe9x</org")
    report = parse_aggregate(doc.encode("latin-1"))  # declared UTF-8: \xe9 is invalid there
    assert report.report_metadata.org_name == "Gméx"
    assert [(r.kind, r.line) for r in report.repairs] == [("reencoded", 2)]
    assert careful_calls[:1] == [doc.encode("latin-1")]  # the strict error came from defusedxml
    assert len(careful_calls) == 1  # the repaired text had no DTD: fast parser again


def test_fast_and_careful_parsers_build_the_same_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = REPORT.format(report_id="a&amp;b &#x263A;").encode()
    fast = parse_aggregate(doc)
    monkeypatch.setattr(aggregate, "_no_dtd_possible", lambda data: False)
    assert parse_aggregate(doc) == fast
    assert fast.report_metadata.report_id == "a&b \u263a"
